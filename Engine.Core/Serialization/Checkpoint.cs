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
    /// Copies the tensors into <paramref name="module"/>'s parameters and buffers (a training checkpoint's optimizer
    /// state is skipped); names and shapes must match exactly, otherwise an <see cref="InvalidDataException"/> lists
    /// everything missing, unexpected or mis-shaped, and the module is unchanged.
    /// </summary>
    public void LoadInto(Module module) => StateLoading.LoadInto(module,
        Content.Tensors.Where(t => !t.Key.StartsWith(TrainingCheckpoint.OptimizerPrefix, StringComparison.Ordinal)), $"checkpoint '{File}'");
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
