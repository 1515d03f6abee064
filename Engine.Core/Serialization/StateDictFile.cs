namespace Engine.Serialization;

/// <summary>
/// Reads a state_dict (named tensors) from either format the engine accepts for weights: safetensors (ours, or
/// Hugging Face's) or a PyTorch .pt/.pth zip written by torch.save, read by the restricted unpickler
/// (<see cref="TorchPickle"/>). The format is told by content, not by extension. A training checkpoint's optimizer
/// tensors are left out. Faults are <see cref="InvalidDataException"/>s naming the file.
/// </summary>
public static class StateDictFile
{
    private static ReadOnlySpan<byte> ZipMagic => "PK\u0003\u0004"u8;

    public static IReadOnlyList<KeyValuePair<string, HostTensor>> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"weights file '{path}' does not exist", path);
        Span<byte> magic = stackalloc byte[4];
        using (var file = File.OpenRead(path))
        {
            if (file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) == magic.Length && magic.SequenceEqual(ZipMagic))
            {
                file.Position = 0;
                return TorchPickle.Load(file, path).Select(t => new KeyValuePair<string, HostTensor>(t.Key, ToHost(t.Key, t.Value, path))).ToList();
            }
        }
        return SafeTensors.Load(path).Tensors
            .Where(t => !t.Key.StartsWith(TrainingCheckpoint.OptimizerPrefix, StringComparison.Ordinal)).ToList();
    }

    private static HostTensor ToHost(string name, TorchTensor tensor, string path)
    {
        if (tensor.Shape.Length > Shape.MaxRank)
            throw new InvalidDataException($"weights file '{path}': tensor '{name}' has rank {tensor.Shape.Length}, above the engine's limit of {Shape.MaxRank}");
        return new HostTensor(new Shape(tensor.Shape), tensor.Values);
    }
}
