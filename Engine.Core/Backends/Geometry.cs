namespace Engine;

/// <summary>A height/width pair: kernel size, stride, dilation.</summary>
public readonly record struct Size2(int Height, int Width)
{
    public static implicit operator Size2(int both) => new(both, both);
    public static implicit operator Size2((int Height, int Width) hw) => new(hw.Height, hw.Width);
    public override string ToString() => Height == Width ? $"{Height}" : $"({Height},{Width})";
}

/// <summary>Explicit padding on the four sides of a plane (may be asymmetric, as 'same' padding needs).</summary>
public readonly record struct Padding2d(int Top, int Left, int Bottom, int Right)
{
    public static implicit operator Padding2d(int all) => new(all, all, all, all);
    public static implicit operator Padding2d((int Height, int Width) hw) => new(hw.Height, hw.Width, hw.Height, hw.Width);
    public bool IsZero => Top == 0 && Left == 0 && Bottom == 0 && Right == 0;
    public override string ToString() => $"(top {Top}, left {Left}, bottom {Bottom}, right {Right})";
}

/// <summary>
/// Row-major (batched) GEMM: for each batch b, C_b (M x N) = alpha * op(A_b) (M x K) * op(B_b) (K x N) + beta * C_b.
/// A is stored M x K (K x M when TransA), B is K x N (N x K when TransB); batch b starts at b * Stride*.
/// A stride of 0 reuses one matrix for every batch.
/// </summary>
public readonly record struct GemmGeometry(
    bool TransA, bool TransB, int M, int N, int K, int BatchCount = 1, long StrideA = 0, long StrideB = 0, long StrideC = 0)
{
    public int Lda => TransA ? M : K;
    public int Ldb => TransB ? K : N;

    public void Validate(int aLength, int bLength, int cLength)
    {
        if (M < 0 || N < 0 || K < 0 || BatchCount < 1)
            throw new ArgumentException($"GEMM: expected non-negative M, N, K and at least one batch, got M={M}, N={N}, K={K}, batches={BatchCount}");
        Check("A", aLength, (long)M * K, StrideA);
        Check("B", bLength, (long)K * N, StrideB);
        Check("C", cLength, (long)M * N, StrideC);
    }

    private void Check(string name, int length, long matrix, long stride)
    {
        long needed = (BatchCount - 1) * stride + matrix;
        if (length < needed)
            throw new ArgumentException($"GEMM: {name} needs at least {needed} elements for {this}, got {length}");
    }
}

/// <summary>Softmax along one axis of a tensor viewed as Outer x Axis x Inner.</summary>
public readonly record struct SoftmaxGeometry(int Outer, int Axis, int Inner)
{
    public int Size => Outer * Axis * Inner;

    public static SoftmaxGeometry Of(Shape shape, int axis) =>
        new(shape.Product(0, axis), shape[axis], shape.Product(axis + 1, shape.Rank));
}

/// <summary>How a plane is extended beyond its border.</summary>
public enum PaddingMode { Zeros, Reflect, Replicate, Circular }

/// <summary>
/// Explicit padding of N x C x H x W planes to N x C x (Top+H+Bottom) x (Left+W+Right).
/// Zeros fills with <see cref="Value"/>; Reflect mirrors without repeating the edge (pad &lt; size);
/// Replicate repeats the edge; Circular wraps around (pad &lt;= size).
/// </summary>
public readonly record struct Pad2dGeometry(int Batch, int Channels, int InHeight, int InWidth, Padding2d Padding, PaddingMode Mode, float Value = 0f)
{
    public int OutHeight => InHeight + Padding.Top + Padding.Bottom;
    public int OutWidth => InWidth + Padding.Left + Padding.Right;
    public Shape InputShape => new(Batch, Channels, InHeight, InWidth);
    public Shape OutputShape => new(Batch, Channels, OutHeight, OutWidth);

    public void Validate(string where)
    {
        if (Batch <= 0 || Channels <= 0 || InHeight <= 0 || InWidth <= 0)
            throw new ArgumentException($"{where}: expected a non-empty input, got {InputShape}");
        var p = Padding;
        if (p.Top < 0 || p.Left < 0 || p.Bottom < 0 || p.Right < 0)
            throw new ArgumentException($"{where}: expected non-negative padding, got {p}");
        int maxH = Math.Max(p.Top, p.Bottom), maxW = Math.Max(p.Left, p.Right);
        switch (Mode)
        {
            case PaddingMode.Reflect when maxH >= InHeight || maxW >= InWidth:
                throw new ArgumentException($"{where}: reflect padding must be smaller than the input size, got padding {p} for input {InputShape}");
            case PaddingMode.Circular when maxH > InHeight || maxW > InWidth:
                throw new ArgumentException($"{where}: circular padding must be at most the input size, got padding {p} for input {InputShape}");
        }
    }

    /// <summary>The source row (or column) for output coordinate <paramref name="o"/>; -1 for a constant pad.</summary>
    public static int Source(PaddingMode mode, int o, int before, int size)
    {
        int i = o - before;
        if ((uint)i < (uint)size) return i;
        return mode switch
        {
            PaddingMode.Zeros => -1,
            PaddingMode.Reflect => i < 0 ? -i : 2 * (size - 1) - i,
            PaddingMode.Replicate => i < 0 ? 0 : size - 1,
            _ => ((i % size) + size) % size,
        };
    }
}

/// <summary>Hyper-parameters of one SGD update (PyTorch semantics, dampening included).</summary>
public readonly record struct SgdSettings(float LearningRate, float Momentum, float Dampening, float WeightDecay, bool Nesterov, bool FirstStep);

/// <summary>Hyper-parameters of one Adam/AdamW update at step <see cref="Step"/> (1-based).</summary>
public readonly record struct AdamSettings(float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay, bool Decoupled, int Step);

/// <summary>
/// A reordering of axes: output axis i is input axis <see cref="Axes"/>[i] (Axes is a permutation of 0..rank-1,
/// stored in a <see cref="Shape"/> for its inline storage).
/// </summary>
public readonly record struct PermuteGeometry(Shape Input, Shape Axes)
{
    public Shape OutputShape
    {
        get
        {
            Span<int> d = stackalloc int[Input.Rank];
            for (int i = 0; i < d.Length; i++) d[i] = Input[Axes[i]];
            return new Shape(d);
        }
    }

    public void Validate(string where)
    {
        if (Axes.Rank != Input.Rank)
            throw new ArgumentException($"{where}: expected {Input.Rank} axes for a tensor of shape {Input}, got {Axes}");
        Span<bool> seen = stackalloc bool[Input.Rank];
        for (int i = 0; i < Axes.Rank; i++)
        {
            int a = Axes[i];
            if (a >= Input.Rank || seen[a])
                throw new ArgumentException($"{where}: axes {Axes} are not a permutation of 0..{Input.Rank - 1}");
            seen[a] = true;
        }
    }
}

public enum ResizeMode { Nearest, Bilinear }

/// <summary>
/// Resizing N x C x H x W to N x C x OutHeight x OutWidth with PyTorch's coordinate rules: nearest reads
/// floor(o * in / out); bilinear samples at (o + 0.5) * in / out - 0.5 clamped at 0, or with align corners at
/// o * (in - 1) / (out - 1).
/// </summary>
public readonly record struct Resize2dGeometry(int Batch, int Channels, int InHeight, int InWidth, int OutHeight, int OutWidth, ResizeMode Mode, bool AlignCorners = false)
{
    public Shape InputShape => new(Batch, Channels, InHeight, InWidth);
    public Shape OutputShape => new(Batch, Channels, OutHeight, OutWidth);

    public void Validate(string where)
    {
        if (Batch <= 0 || Channels <= 0 || InHeight <= 0 || InWidth <= 0 || OutHeight <= 0 || OutWidth <= 0)
            throw new ArgumentException($"{where}: expected positive sizes, got input {InputShape} and output {OutHeight}x{OutWidth}");
        if (Mode == ResizeMode.Nearest && AlignCorners)
            throw new ArgumentException($"{where}: align corners only applies to bilinear resizing");
    }

    /// <summary>Nearest source index for output coordinate o.</summary>
    public static int NearestSource(int o, int inSize, int outSize) => Math.Min((int)((long)o * inSize / outSize), inSize - 1);

    /// <summary>Bilinear source: the two taps and the weight of the second.</summary>
    public (int I0, int I1, float Weight1) LinearSource(int o, int inSize, int outSize)
    {
        float src;
        if (AlignCorners) src = outSize > 1 ? o * (float)(inSize - 1) / (outSize - 1) : 0f;
        else src = MathF.Max((o + 0.5f) * inSize / outSize - 0.5f, 0f);
        int i0 = Math.Min((int)src, inSize - 1);
        int i1 = Math.Min(i0 + 1, inSize - 1);
        return (i0, i1, src - i0);
    }
}
