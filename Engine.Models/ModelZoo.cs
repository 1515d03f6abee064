using Engine.Nn;

namespace Engine.Models;

/// <summary>A model the zoo can build: its name, what it is, its usual input size, and its factory
/// (numClasses, inChannels, generator for initial weights).</summary>
public sealed record ModelEntry(string Name, string Description, int InputHeight, int InputWidth, Func<int, int, Generator?, Module> Factory)
{
    /// <summary>The input of one image with <paramref name="inChannels"/> channels: (1, C, H, W).</summary>
    public Shape DefaultInput(int inChannels) => new(1, inChannels, InputHeight, InputWidth);
}

/// <summary>Models by name, for the command line and for checkpoints (which record the name).</summary>
public static class ModelZoo
{
    private static readonly Dictionary<string, ModelEntry> s_models = new(StringComparer.OrdinalIgnoreCase)
    {
        ["lenet5"] = new("lenet5", "LeNet-5 (conv 6, conv 16, linear 120-84-classes), 28x28 input", 28, 28,
            (numClasses, inChannels, generator) => new LeNet5(numClasses, inChannels, generator)),
    };

    /// <summary>The known names, sorted.</summary>
    public static IReadOnlyList<string> Names => s_models.Keys.Order(StringComparer.Ordinal).ToList();

    public static IReadOnlyList<ModelEntry> Entries => Names.Select(n => s_models[n]).ToList();

    /// <summary>The entry for <paramref name="name"/> (case-insensitive); an unknown name lists the known ones.</summary>
    public static ModelEntry Find(string name) =>
        s_models.TryGetValue(name, out var entry)
            ? entry
            : throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Names)}");

    /// <summary>A new model with freshly initialized weights (drawn from <paramref name="generator"/>, or the default generator).</summary>
    public static Module Create(string name, int numClasses = 10, int inChannels = 1, Generator? generator = null)
    {
        if (numClasses <= 0) throw new ArgumentException($"model '{name}': expected a positive number of classes, got {numClasses}");
        if (inChannels <= 0) throw new ArgumentException($"model '{name}': expected a positive number of input channels, got {inChannels}");
        return Find(name).Factory(numClasses, inChannels, generator);
    }
}
