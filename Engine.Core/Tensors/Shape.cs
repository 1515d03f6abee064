using System.Runtime.CompilerServices;
using System.Text;

namespace Engine;

/// <summary>
/// The dimensions of a dense row-major tensor, rank 0..6, stored inline (no heap allocation).
/// Rank-4 tensors are NCHW: <see cref="Batch"/>, <see cref="Channels"/>, <see cref="Height"/>, <see cref="Width"/>.
/// </summary>
public readonly struct Shape : IEquatable<Shape>
{
    public const int MaxRank = 6;

    [InlineArray(MaxRank)]
    private struct Dims
    {
        private int _element0;
    }

    private readonly Dims _dims;

    public int Rank { get; }

    public Shape(params ReadOnlySpan<int> dims)
    {
        if (dims.Length > MaxRank)
            throw new ArgumentException($"expected a shape of rank at most {MaxRank}, got rank {dims.Length}");
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] < 0)
                throw new ArgumentException($"expected non-negative sizes, got {Format(dims)}");
            _dims[i] = dims[i];
        }
        Rank = dims.Length;
    }

    public int this[int axis]
    {
        get
        {
            if ((uint)axis >= (uint)Rank)
                throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} is outside a shape of rank {Rank} {this}");
            return _dims[axis];
        }
    }

    /// <summary>Number of elements (1 for rank 0).</summary>
    public int Size
    {
        get
        {
            long size = 1;
            for (int i = 0; i < Rank; i++) size *= _dims[i];
            if (size > int.MaxValue)
                throw new ArgumentException($"a tensor of shape {this} has more than {int.MaxValue} elements");
            return (int)size;
        }
    }

    /// <summary>N of an NCHW (or N x features) tensor.</summary>
    public int Batch => this[0];
    /// <summary>C of an NCHW tensor (features of an N x F tensor).</summary>
    public int Channels => this[1];
    /// <summary>H of an NCHW tensor.</summary>
    public int Height => this[Rank - 2];
    /// <summary>W of an NCHW tensor.</summary>
    public int Width => this[Rank - 1];

    /// <summary>Product of the dimensions from <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive).</summary>
    public int Product(int start, int end)
    {
        int p = 1;
        for (int i = start; i < end; i++) p *= _dims[i];
        return p;
    }

    public int[] ToArray()
    {
        var a = new int[Rank];
        for (int i = 0; i < Rank; i++) a[i] = _dims[i];
        return a;
    }

    public Shape With(int axis, int value)
    {
        Span<int> d = stackalloc int[Rank];
        for (int i = 0; i < Rank; i++) d[i] = _dims[i];
        d[axis] = value;
        return new Shape(d);
    }

    public bool Equals(Shape other)
    {
        if (Rank != other.Rank) return false;
        for (int i = 0; i < Rank; i++)
            if (_dims[i] != other._dims[i]) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is Shape s && Equals(s);

    public override int GetHashCode()
    {
        var h = new HashCode();
        for (int i = 0; i < Rank; i++) h.Add(_dims[i]);
        return h.ToHashCode();
    }

    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);

    public static implicit operator Shape(int[] dims) => new(dims);

    public override string ToString()
    {
        Span<int> d = stackalloc int[Rank];
        for (int i = 0; i < Rank; i++) d[i] = _dims[i];
        return Format(d);
    }

    private static string Format(ReadOnlySpan<int> dims)
    {
        var sb = new StringBuilder("(");
        for (int i = 0; i < dims.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(dims[i]);
        }
        return sb.Append(')').ToString();
    }
}
