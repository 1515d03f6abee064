using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Engine.Serialization;

/// <summary>An element type of the safetensors format that loads as float32.</summary>
internal sealed record SafeTensorsDType(string Name, int Bytes)
{
    public static readonly SafeTensorsDType F32 = new("F32", 4);
    public static readonly SafeTensorsDType F16 = new("F16", 2);
    public static readonly SafeTensorsDType BF16 = new("BF16", 2);
    public static readonly SafeTensorsDType F64 = new("F64", 8);

    public static readonly IReadOnlyList<SafeTensorsDType> Loadable = [F32, F16, BF16, F64];

    /// <summary>Types the format defines that the engine does not load (integers, booleans, 8-bit floats).</summary>
    public static readonly IReadOnlyList<string> Unsupported =
        ["BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"];

    /// <summary>Reads <paramref name="bytes"/> bytes of little-endian elements of this type as float32.</summary>
    public float[] Read(Stream stream, long bytes)
    {
        var values = new float[bytes / Bytes];
        if (this == F32 && BitConverter.IsLittleEndian)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }
        var raw = new byte[bytes];
        stream.ReadExactly(raw);
        for (int i = 0; i < values.Length; i++)
        {
            var element = raw.AsSpan(i * Bytes, Bytes);
            values[i] = Name switch
            {
                "F32" => BinaryPrimitives.ReadSingleLittleEndian(element),
                "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(element),
                // bfloat16 is the top half of a float32.
                "BF16" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(element) << 16),
                _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(element),
            };
        }
        return values;
    }
}

/// <summary>One tensor's header entry, validated: its bytes are [Begin, End) of the data section.</summary>
internal readonly record struct SafeTensorsEntry(string Name, SafeTensorsDType DType, Shape Shape, long Begin, long End);

/// <summary>
/// Parses and validates the JSON header with <see cref="Utf8JsonReader"/> (no reflection, trimming-safe):
/// every key is unique, every entry has exactly dtype, shape and data_offsets, the dtype is known, the shape's
/// element count times the element size equals the byte range, and the ranges tile the data section exactly
/// (in range, non-overlapping, no holes).
/// </summary>
internal static class SafeTensorsHeader
{
    public static List<SafeTensorsEntry> Parse(byte[] header, long dataBytes, string file, out Dictionary<string, string> metadata)
    {
        try
        {
            return ParseUnchecked(header, dataBytes, file, out metadata);
        }
        catch (JsonException e)
        {
            throw SafeTensors.Invalid(file, $"the header is not well-formed JSON ({e.Message})");
        }
        catch (DecoderFallbackException e)
        {
            throw SafeTensors.Invalid(file, $"the header is not valid UTF-8 ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader reports invalid UTF-8 in strings and wrong token kinds this way.
            throw SafeTensors.Invalid(file, $"the header is not valid JSON ({e.Message})");
        }
    }

    private static List<SafeTensorsEntry> ParseUnchecked(byte[] header, long dataBytes, string file, out Dictionary<string, string> metadata)
    {
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        Expect(ref reader, JsonTokenType.StartObject, file, "the header to be a JSON object");
        metadata = [];
        bool sawMetadata = false;
        var entries = new List<SafeTensorsEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            Read(ref reader, file);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string key = reader.GetString()!;
            if (key == SafeTensors.MetadataKey)
            {
                if (sawMetadata) throw SafeTensors.Invalid(file, $"'{SafeTensors.MetadataKey}' appears twice");
                sawMetadata = true;
                metadata = ReadMetadata(ref reader, file);
                continue;
            }
            if (key.Length == 0) throw SafeTensors.Invalid(file, "a tensor has an empty name");
            if (!names.Add(key)) throw SafeTensors.Invalid(file, $"tensor '{key}' appears twice in the header");
            entries.Add(ReadEntry(ref reader, key, dataBytes, file));
        }
        // Only padding may follow the object.
        if (reader.Read())
            throw SafeTensors.Invalid(file, $"unexpected {reader.TokenType} after the header object");
        CheckTiling(entries, dataBytes, file);
        return entries;
    }

    private static Dictionary<string, string> ReadMetadata(ref Utf8JsonReader reader, string file)
    {
        Expect(ref reader, JsonTokenType.StartObject, file, $"'{SafeTensors.MetadataKey}' to be an object of strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            Read(ref reader, file);
            if (reader.TokenType == JsonTokenType.EndObject) return metadata;
            string key = reader.GetString()!;
            Read(ref reader, file);
            if (reader.TokenType != JsonTokenType.String)
                throw SafeTensors.Invalid(file, $"metadata '{key}' must be a string, got {reader.TokenType}");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw SafeTensors.Invalid(file, $"metadata '{key}' appears twice");
        }
    }

    private static SafeTensorsEntry ReadEntry(ref Utf8JsonReader reader, string name, long dataBytes, string file)
    {
        Expect(ref reader, JsonTokenType.StartObject, file, $"tensor '{name}' to be an object");
        string? dtype = null;
        List<ulong>? shape = null, offsets = null;
        while (true)
        {
            Read(ref reader, file);
            if (reader.TokenType == JsonTokenType.EndObject) break;
            string field = reader.GetString()!;
            switch (field)
            {
                case "dtype" when dtype is null:
                    Expect(ref reader, JsonTokenType.String, file, $"tensor '{name}': dtype to be a string");
                    dtype = reader.GetString()!;
                    break;
                case "shape" when shape is null:
                    shape = ReadIntegers(ref reader, file, $"tensor '{name}': shape");
                    break;
                case "data_offsets" when offsets is null:
                    offsets = ReadIntegers(ref reader, file, $"tensor '{name}': data_offsets");
                    break;
                case "dtype" or "shape" or "data_offsets":
                    throw SafeTensors.Invalid(file, $"tensor '{name}': field '{field}' appears twice");
                default:
                    throw SafeTensors.Invalid(file, $"tensor '{name}': unexpected field '{field}' (expected dtype, shape, data_offsets)");
            }
        }
        if (dtype is null || shape is null || offsets is null)
            throw SafeTensors.Invalid(file, $"tensor '{name}': missing {(dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets")}");
        return Validate(name, dtype, shape, offsets, dataBytes, file);
    }

    private static SafeTensorsEntry Validate(string name, string dtypeName, List<ulong> shape, List<ulong> offsets, long dataBytes, string file)
    {
        var dtype = SafeTensorsDType.Loadable.FirstOrDefault(d => d.Name == dtypeName);
        if (dtype is null)
        {
            string known = string.Join(", ", SafeTensorsDType.Loadable.Select(d => d.Name));
            throw SafeTensors.Invalid(file, SafeTensorsDType.Unsupported.Contains(dtypeName)
                ? $"tensor '{name}': dtype {dtypeName} is not supported (expected one of {known})"
                : $"tensor '{name}': unknown dtype '{dtypeName}' (expected one of {known})");
        }
        if (shape.Count > Shape.MaxRank)
            throw SafeTensors.Invalid(file, $"tensor '{name}': rank {shape.Count} is above the engine's limit of {Shape.MaxRank}");
        if (offsets.Count != 2)
            throw SafeTensors.Invalid(file, $"tensor '{name}': data_offsets must be [begin, end], got {offsets.Count} numbers");
        ulong begin = offsets[0], end = offsets[1];
        if (begin > end || end > (ulong)dataBytes)
            throw SafeTensors.Invalid(file, $"tensor '{name}': data_offsets [{begin}, {end}] are outside the {dataBytes} data bytes or reversed");
        var dims = new int[shape.Count];
        BigInteger bytes = dtype.Bytes;
        for (int axis = 0; axis < shape.Count; axis++)
        {
            if (shape[axis] > int.MaxValue)
                throw SafeTensors.Invalid(file, $"tensor '{name}': dimension {axis} is {shape[axis]}, above {int.MaxValue}");
            dims[axis] = (int)shape[axis];
            bytes *= shape[axis];
        }
        if (bytes != end - begin)
            throw SafeTensors.Invalid(file, $"tensor '{name}': shape ({string.Join(',', shape)}) of {dtype.Name} needs {bytes} bytes, data_offsets [{begin}, {end}] give {end - begin}");
        if (bytes / dtype.Bytes > Array.MaxLength)
            throw SafeTensors.Invalid(file, $"tensor '{name}': {bytes / dtype.Bytes} elements are more than one array holds ({Array.MaxLength})");
        return new SafeTensorsEntry(name, dtype, new Shape(dims), (long)begin, (long)end);
    }

    /// <summary>The byte ranges, sorted, must start at 0, meet end to end and finish at the data's end.</summary>
    private static void CheckTiling(List<SafeTensorsEntry> entries, long dataBytes, string file)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expected = 0;
        string previous = "the start of the data";
        foreach (var entry in entries)
        {
            if (entry.Begin < expected)
                throw SafeTensors.Invalid(file, $"tensor '{entry.Name}' (bytes {entry.Begin}..{entry.End}) overlaps {previous} (ending at {expected})");
            if (entry.Begin > expected)
                throw SafeTensors.Invalid(file, $"a hole of {entry.Begin - expected} bytes lies between {previous} and tensor '{entry.Name}' (the data must be contiguous)");
            expected = entry.End;
            previous = $"tensor '{entry.Name}'";
        }
        if (expected != dataBytes)
            throw SafeTensors.Invalid(file, $"the tensors cover {expected} data bytes but the file has {dataBytes} after the header");
    }

    private static List<ulong> ReadIntegers(ref Utf8JsonReader reader, string file, string what)
    {
        Expect(ref reader, JsonTokenType.StartArray, file, $"{what} to be an array of integers");
        var values = new List<ulong>();
        while (true)
        {
            Read(ref reader, file);
            if (reader.TokenType == JsonTokenType.EndArray) return values;
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out ulong value))
                throw SafeTensors.Invalid(file, $"{what}: expected non-negative integers, got {Describe(ref reader)}");
            if (values.Count == Shape.MaxRank + 1)
                throw SafeTensors.Invalid(file, $"{what}: more than {Shape.MaxRank + 1} numbers");
            values.Add(value);
        }
    }

    private static string Describe(ref Utf8JsonReader reader) =>
        reader.TokenType is JsonTokenType.Number or JsonTokenType.String
            ? Encoding.UTF8.GetString(reader.ValueSpan)
            : reader.TokenType.ToString();

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string file, string what)
    {
        Read(ref reader, file);
        if (reader.TokenType != type)
            throw SafeTensors.Invalid(file, $"expected {what}, got {reader.TokenType}");
    }

    private static void Read(ref Utf8JsonReader reader, string file)
    {
        if (!reader.Read()) throw SafeTensors.Invalid(file, "the header JSON ends early");
    }
}
