using System.Globalization;
using Engine.Nn;

namespace Engine.Serialization;

/// <summary>What a checkpoint says about its model, enough to rebuild it from a model zoo.</summary>
public sealed record CheckpointInfo(string Model, int NumClasses, int InChannels)
{
    public const string ModelKey = "model", NumClassesKey = "num_classes", InChannelsKey = "in_channels";

    public Dictionary<string, string> ToMetadata() => new(StringComparer.Ordinal)
    {
        [ModelKey] = Model,
        [NumClassesKey] = NumClasses.ToString(CultureInfo.InvariantCulture),
        [InChannelsKey] = InChannels.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Reads the three keys back; a missing or malformed one is an <see cref="InvalidDataException"/>.</summary>
    public static CheckpointInfo FromMetadata(IReadOnlyDictionary<string, string> metadata, string file)
    {
        string Get(string key) => metadata.TryGetValue(key, out var value) && value.Length > 0
            ? value
            : throw new InvalidDataException($"checkpoint '{file}': metadata has no '{key}' (expected a file written by Checkpoint.Save, with {ModelKey}, {NumClassesKey} and {InChannelsKey})");
        int Positive(string key)
        {
            var text = Get(key);
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
                ? value
                : throw new InvalidDataException($"checkpoint '{file}': metadata '{key}' should be a positive integer, got '{text}'");
        }
        return new CheckpointInfo(Get(ModelKey), Positive(NumClassesKey), Positive(InChannelsKey));
    }
}

/// <summary>A checkpoint read from disk: its model description, tensors and all metadata.</summary>
public sealed record LoadedCheckpoint(string File, CheckpointInfo Info, SafeTensorsContent Content)
{
    /// <summary>
    /// Copies the tensors into <paramref name="module"/>'s parameters and buffers; names and shapes must match
    /// exactly, otherwise an <see cref="InvalidDataException"/> lists what is missing, unexpected or mis-shaped.
    /// </summary>
    public void LoadInto(Module module)
    {
        var tensors = Content.ToDictionary();
        var named = module.NamedState().ToDictionary(s => s.Name, s => s.Parameter);
        var missing = named.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        var unexpected = tensors.Keys.Where(k => !named.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"checkpoint '{File}' does not match {module.Describe()}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}]");
        foreach (var (name, tensor) in tensors)
            if (tensor.Shape != named[name].Shape)
                throw new InvalidDataException($"checkpoint '{File}': '{name}' has shape {tensor.Shape}; {module.Describe()} expects {named[name].Shape}");
        foreach (var (name, tensor) in tensors) named[name].Load(tensor.Values);
    }
}

/// <summary>Saves and loads a module's state (parameters and buffers by dotted name) as safetensors.</summary>
public static class Checkpoint
{
    /// <summary>Writes every parameter and buffer of <paramref name="module"/> with <paramref name="info"/> as
    /// metadata (plus <paramref name="extra"/> keys), atomically.</summary>
    public static void Save(string path, Module module, CheckpointInfo info, IReadOnlyDictionary<string, string>? extra = null)
    {
        var metadata = info.ToMetadata();
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
            if (!metadata.TryAdd(key, value))
                throw new ArgumentException($"checkpoint: extra metadata '{key}' collides with a reserved key");
        var tensors = module.NamedState().Select(s => new KeyValuePair<string, HostTensor>(s.Name, new HostTensor(s.Parameter.Shape, s.Parameter.ToArray())));
        SafeTensors.Save(path, tensors, metadata);
    }

    /// <summary>Reads a checkpoint and its model description (validated).</summary>
    public static LoadedCheckpoint Load(string path)
    {
        var content = SafeTensors.Load(path);
        return new LoadedCheckpoint(path, CheckpointInfo.FromMetadata(content.Metadata, path), content);
    }
}
