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
