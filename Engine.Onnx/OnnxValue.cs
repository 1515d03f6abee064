using System.Buffers.Binary;
using Engine.Onnx.Proto;
using DataType = Engine.Onnx.Proto.TensorProto.Types.DataType;

namespace Engine.Onnx;

/// <summary>
/// A value known on the host: shape arithmetic (int64 shapes, indices, booleans) and constants. Elements are held
/// as doubles, which represent every float32 and every integer up to 2^53 exactly.
/// </summary>
internal sealed class HostTensor
{
    public HostTensor(int[] dims, double[] data, DataType type)
    {
        long size = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw new InvalidDataException($"ONNX: expected non-negative dimensions, got ({string.Join(',', dims)})");
            size *= d;
        }
        if (size != data.Length)
            throw new InvalidDataException($"ONNX: a tensor of shape ({string.Join(',', dims)}) needs {size} values, got {data.Length}");
        Dims = dims;
        Data = data;
        Type = type;
    }

    public int[] Dims { get; }
    public double[] Data { get; }
    public DataType Type { get; }
    public int Rank => Dims.Length;
    public bool IsFloat => Type is DataType.Float or DataType.Double or DataType.Float16 or DataType.Bfloat16;

    public static HostTensor Scalar(double value, DataType type) => new([], [value], type);

    public static HostTensor Vector(IReadOnlyList<long> values) =>
        new([values.Count], values.Select(v => (double)v).ToArray(), DataType.Int64);

    public long[] AsLongs() => Data.Select(v => (long)v).ToArray();

    public int[] AsInts() => Data.Select(v => (int)Math.Clamp(v, int.MinValue, int.MaxValue)).ToArray();

    public float[] AsFloats() => Data.Select(v => (float)v).ToArray();

    public Tensor ToTensor(IBackend backend)
    {
        if (Rank > Shape.MaxRank)
            throw new NotSupportedException($"ONNX: tensors of rank {Rank} are not supported (at most {Shape.MaxRank})");
        return Tensor.FromArray(backend, AsFloats(), new Shape(Dims));
    }

    public static HostTensor FromTensor(Tensor t) =>
        new(t.Shape.ToArray(), Array.ConvertAll(t.ToArray(), v => (double)v), DataType.Float);

    public override string ToString() => $"{Type}({string.Join(',', Dims)})";
}

/// <summary>Decoding of ONNX TensorProto payloads (raw little-endian data or the typed repeated fields).</summary>
internal static class OnnxTensors
{
    /// <summary>Reads a serialized TensorProto file (the .pb files of the ONNX backend tests).</summary>
    public static HostTensor ReadFile(string path)
    {
        TensorProto proto;
        try
        {
            proto = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"ONNX: '{path}' is not a valid TensorProto: {e.Message}", e);
        }
        return Decode(proto);
    }

    internal static HostTensor Decode(TensorProto t)
    {
        var dims = new int[t.Dims.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            long d = t.Dims[i];
            if (d < 0 || d > int.MaxValue)
                throw new InvalidDataException($"ONNX: tensor '{t.Name}' has dimension {d} at axis {i}; expected 0..{int.MaxValue}");
            dims[i] = (int)d;
        }
        long count = 1;
        foreach (var d in dims) count = checked(count * d);
        if (t.DataLocation != 0)
            throw new NotSupportedException($"ONNX: tensor '{t.Name}' keeps its data in an external file, which is not supported");
        var type = (DataType)t.DataType;
        var raw = t.RawData.Span;
        double[] data = raw.Length > 0 || count == 0 && HasNoTypedData(t) ? DecodeRaw(t.Name, type, raw, count) : DecodeTyped(t, type, count);
        return new HostTensor(dims, data, type);
    }

    private static bool HasNoTypedData(TensorProto t) =>
        t.FloatData.Count == 0 && t.Int32Data.Count == 0 && t.Int64Data.Count == 0 && t.DoubleData.Count == 0 && t.Uint64Data.Count == 0;

    private static int ElementSize(string name, DataType type) => type switch
    {
        DataType.Float or DataType.Int32 or DataType.Uint32 => 4,
        DataType.Double or DataType.Int64 or DataType.Uint64 => 8,
        DataType.Float16 or DataType.Bfloat16 or DataType.Int16 or DataType.Uint16 => 2,
        DataType.Int8 or DataType.Uint8 or DataType.Bool => 1,
        _ => throw new NotSupportedException($"ONNX: tensor '{name}' has data type {type}, which is not supported"),
    };

    private static double[] DecodeRaw(string name, DataType type, ReadOnlySpan<byte> raw, long count)
    {
        int size = ElementSize(name, type);
        if (raw.Length != count * size)
            throw new InvalidDataException($"ONNX: tensor '{name}' of type {type} needs {count * size} bytes of raw data for {count} values, got {raw.Length}");
        var data = new double[count];
        for (int i = 0; i < data.Length; i++)
        {
            var b = raw.Slice(i * size, size);
            data[i] = type switch
            {
                DataType.Float => BinaryPrimitives.ReadSingleLittleEndian(b),
                DataType.Double => BinaryPrimitives.ReadDoubleLittleEndian(b),
                DataType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
                DataType.Uint64 => BinaryPrimitives.ReadUInt64LittleEndian(b),
                DataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
                DataType.Uint32 => BinaryPrimitives.ReadUInt32LittleEndian(b),
                DataType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(b),
                DataType.Uint16 => BinaryPrimitives.ReadUInt16LittleEndian(b),
                DataType.Float16 => (double)BinaryPrimitives.ReadHalfLittleEndian(b),
                DataType.Bfloat16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
                DataType.Int8 => (sbyte)b[0],
                _ => b[0],
            };
        }
        return data;
    }

    private static double[] DecodeTyped(TensorProto t, DataType type, long count)
    {
        double[] data = type switch
        {
            DataType.Float => t.FloatData.Select(v => (double)v).ToArray(),
            DataType.Double => t.DoubleData.ToArray(),
            DataType.Int64 => t.Int64Data.Select(v => (double)v).ToArray(),
            DataType.Uint64 or DataType.Uint32 => t.Uint64Data.Select(v => (double)v).ToArray(),
            DataType.Int32 or DataType.Int16 or DataType.Int8 or DataType.Uint16 or DataType.Uint8 or DataType.Bool => t.Int32Data.Select(v => (double)v).ToArray(),
            // float16 and bfloat16 values are stored as their bit patterns in int32_data.
            DataType.Float16 => t.Int32Data.Select(v => (double)BitConverter.UInt16BitsToHalf((ushort)v)).ToArray(),
            DataType.Bfloat16 => t.Int32Data.Select(v => (double)BitConverter.Int32BitsToSingle(v << 16)).ToArray(),
            _ => throw new NotSupportedException($"ONNX: tensor '{t.Name}' has data type {type}, which is not supported"),
        };
        if (data.Length != count)
            throw new InvalidDataException($"ONNX: tensor '{t.Name}' of shape ({string.Join(',', t.Dims)}) needs {count} values, got {data.Length}");
        return data;
    }
}
