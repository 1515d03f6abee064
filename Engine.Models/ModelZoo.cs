using Engine.Nn;
using Engine.Serialization;

namespace Engine.Models;

/// <summary>
/// A model the zoo can build: its name, what it is, its usual input (channels, size), default classes, and its
/// factory (numClasses, inChannels).
/// </summary>
public sealed record ModelEntry(string Name, string Description, int InputHeight, int InputWidth, int DefaultClasses, int DefaultChannels,
    Func<int, int, Module> Factory)
{
    /// <summary>The input of one image with <paramref name="inChannels"/> channels: (1, C, H, W).</summary>
    public Shape DefaultInput(int inChannels) => new(1, inChannels, InputHeight, InputWidth);
}

/// <summary>
/// Models by name: torchvision's names (alexnet, vgg16_bn, googlenet, resnet18, mobilenet_v2, efficientnet_b0,
/// convnext_tiny, ...) plus lenet5, lenet5_classic, the CIFAR ResNets resnet20 ... resnet1202, unet and unet_small.
/// </summary>
public static class ModelZoo
{
    private static readonly Dictionary<string, ModelEntry> s_models = Build();

    private static Dictionary<string, ModelEntry> Build()
    {
        var entries = new List<ModelEntry>
        {
            new("lenet5", "LeNet-5, modern form (ReLU, max-pool), 28x28", 28, 28, 10, 1, (n, c) => new LeNet5(n, c)),
            new("lenet5_classic", "LeNet-5, classic form (tanh, average-pool subsampling), 28x28", 28, 28, 10, 1, (n, c) => new LeNet5Classic(n, c)),
            new("alexnet", "AlexNet (torchvision)", 224, 224, 1000, 3, (n, c) => new AlexNet(n, c)),
            new("googlenet", "GoogLeNet / Inception v1 (torchvision, no auxiliary heads)", 224, 224, 1000, 3, (n, c) => new GoogLeNet(n, c)),
            new("mobilenet_v2", "MobileNetV2 (torchvision)", 224, 224, 1000, 3, (n, c) => new MobileNetV2(n, c)),
            new("convnext_tiny", "ConvNeXt-Tiny (torchvision)", 224, 224, 1000, 3, (n, c) => new ConvNeXt(n, c)),
            new("unet", "U-Net, depth 4, base width 64, 'same' padding", 256, 256, 1, 1, (n, c) => new UNet(n, c)),
            new("vgg_small", "small VGG-style net (2x2 conv 32/64 with batch norm, linear 256), 28x28", 28, 28, 10, 1, (n, c) => new SmallVgg(n, c)),
            new("unet_small", "U-Net, depth 3, base width 8, 'same' padding (fast; for the generated shapes)", 64, 64, 1, 1, (n, c) => new UNet(n, c, depth: 3, baseWidth: 8)),
        };
        foreach (int depth in new[] { 11, 13, 16, 19 })
        {
            entries.Add(new($"vgg{depth}", $"VGG-{depth} (torchvision)", 224, 224, 1000, 3, (n, c) => new Vgg(depth, false, n, c)));
            entries.Add(new($"vgg{depth}_bn", $"VGG-{depth} with batch norm (torchvision)", 224, 224, 1000, 3, (n, c) => new Vgg(depth, true, n, c)));
        }
        foreach (int depth in new[] { 18, 34, 50, 101, 152 })
            entries.Add(new($"resnet{depth}", $"ResNet-{depth} (torchvision)", 224, 224, 1000, 3, (n, c) => new ResNet(depth, n, c)));
        foreach (int depth in new[] { 20, 32, 44, 56, 110, 1202 })
            entries.Add(new($"resnet{depth}", $"CIFAR ResNet-{depth} (He et al. 2015, option A shortcuts)", 32, 32, 10, 3, (n, c) => new CifarResNet(depth, n, c)));
        int[] sizes = [224, 240, 260, 300, 380, 456, 528, 600];
        for (int b = 0; b <= 7; b++)
        {
            int variant = b;
            entries.Add(new($"efficientnet_b{b}", $"EfficientNet-B{b} (torchvision)", sizes[b], sizes[b], 1000, 3, (n, c) => new EfficientNet(variant, n, c)));
        }
        return entries.ToDictionary(e => e.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The known names, sorted.</summary>
    public static IReadOnlyList<string> Names => s_models.Keys.Order(StringComparer.Ordinal).ToList();

    public static IReadOnlyList<ModelEntry> Entries => Names.Select(n => s_models[n]).ToList();

    /// <summary>The entry for <paramref name="name"/> (case-insensitive); an unknown name lists the known ones.</summary>
    public static ModelEntry Find(string name) =>
        s_models.TryGetValue(name, out var entry)
            ? entry
            : throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Names)}");

    /// <summary>
    /// A new model (not yet on a backend: call To(backend)) with the model's usual classes and channels unless given.
    /// Initial weights come from <paramref name="generator"/> (or <see cref="Generator.Default"/>), whose position
    /// advances by the draws made; with <paramref name="weights"/> they are then replaced by the file's
    /// (safetensors, or a PyTorch .pt/.pth state_dict with torchvision's names), which must match the model's names
    /// and shapes exactly (the error lists every mismatch). To fine-tune on another number of classes, see
    /// <see cref="CreateForFineTuning"/>.
    /// </summary>
    public static Module Create(string name, int? numClasses = null, int? inChannels = null, Generator? generator = null, string? weights = null)
    {
        var model = Build(name, numClasses, inChannels, generator);
        if (weights is not null) StateLoading.LoadInto(model, StateDictFile.Load(weights), $"weights file '{weights}'");
        return model;
    }

    /// <summary>
    /// A model started from pretrained <paramref name="weights"/> whose classifier head is then replaced by a fresh
    /// one for <paramref name="numClasses"/> classes (drawn from <paramref name="generator"/>): the file's head may
    /// have any number of classes (torchvision's 1000, say); everything else must match.
    /// </summary>
    public static Module CreateForFineTuning(string name, string weights, int numClasses, int? inChannels = null, Generator? generator = null)
    {
        var state = StateDictFile.Load(weights);
        var model = Build(name, numClasses, inChannels, generator);
        var head = ClassifierHead.Find(model);
        // Give the model the file's head first, so the file loads exactly; then swap in the new one.
        string headWeight = $"{head.Path}.weight";
        var saved = state.FirstOrDefault(t => t.Key == headWeight).Value;
        if (saved.Values is not null && saved.Shape.Rank == 2 && saved.Shape[1] == head.InFeatures && saved.Shape[0] != numClasses)
            head.ResetOutputs(saved.Shape[0], generator);
        StateLoading.LoadInto(model, state, $"weights file '{weights}'");
        return model.ReplaceClassifier(numClasses, generator);
    }

    private static Module Build(string name, int? numClasses, int? inChannels, Generator? generator)
    {
        var entry = Find(name);
        int classes = numClasses ?? entry.DefaultClasses, channels = inChannels ?? entry.DefaultChannels;
        if (classes <= 0) throw new ArgumentException($"model '{name}': expected a positive number of classes, got {classes}");
        if (channels <= 0) throw new ArgumentException($"model '{name}': expected a positive number of input channels, got {channels}");
        if (generator is null || ReferenceEquals(generator, Generator.Default)) return entry.Factory(classes, channels);
        // Layers draw from the default generator: lend it the given one's stream for the duration of construction.
        var (seed, offset) = (Generator.Default.Seed, Generator.Default.Offset);
        Generator.Default.ManualSeed(generator.Seed);
        Generator.Default.Offset = generator.Offset;
        try { return entry.Factory(classes, channels); }
        finally
        {
            generator.Offset = Generator.Default.Offset;
            Generator.Default.ManualSeed(seed);
            Generator.Default.Offset = offset;
        }
    }
}
