namespace Engine;

/// <summary>
/// What one output position of a layer sees of the model's input: a window of Height x Width input pixels, and the
/// distance in input pixels between neighbouring outputs (the effective stride, "jump").
/// Closed form through a layer with kernel k, stride s, dilation d: size += (d(k-1)) * jump; jump *= s.
/// </summary>
public readonly record struct ReceptiveField(double Height, double Width, double JumpHeight, double JumpWidth)
{
    public override string ToString() => $"{Height:0.#}x{Width:0.#}";
}

/// <summary>
/// Records multiply-adds and receptive fields while one forward pass runs (for model summaries). Ops that move
/// windows over the input report their geometry; every other recorded op passes the widest field of its inputs on.
/// Thread-local and inactive (free) unless a summary opens it.
/// </summary>
public sealed class Inspection : IDisposable
{
    [ThreadStatic] private static Inspection? t_current;

    private readonly Dictionary<Tensor, ReceptiveField> _fields = new(ReferenceEqualityComparer.Instance);
    private readonly Inspection? _previous;
    private readonly ReceptiveField _whole;

    private Inspection(Tensor input)
    {
        _previous = t_current;
        t_current = this;
        var s = input.Shape;
        _whole = s.Rank >= 3 ? new ReceptiveField(s.Height, s.Width, s.Height, s.Width) : new ReceptiveField(1, 1, 1, 1);
        _fields[input] = s.Rank >= 3 ? new ReceptiveField(1, 1, 1, 1) : _whole;
    }

    /// <summary>Starts inspecting a forward pass from <paramref name="input"/> on this thread.</summary>
    public static Inspection Begin(Tensor input) => new(input);

    internal static Inspection? Current => t_current;

    /// <summary>Multiply-adds counted so far.</summary>
    public long Macs { get; private set; }

    public ReceptiveField? FieldOf(Tensor t) => _fields.TryGetValue(t, out var f) ? f : null;

    internal static void AddMacs(long macs)
    {
        if (t_current is { } i) i.Macs += macs;
    }

    /// <summary>A sliding window over x: field grows by dilation*(kernel-1) jumps; jump multiplies by the stride.</summary>
    internal static void Window(Tensor y, Tensor x, Size2 kernel, Size2 stride, Size2 dilation)
    {
        if (t_current is not { } i || i.FieldOf(x) is not { } f) return;
        i._fields[y] = new ReceptiveField(
            f.Height + dilation.Height * (kernel.Height - 1) * f.JumpHeight, f.Width + dilation.Width * (kernel.Width - 1) * f.JumpWidth,
            f.JumpHeight * stride.Height, f.JumpWidth * stride.Width);
    }

    /// <summary>Upsampling by (scaleH, scaleW) where each output reads tapsH x tapsW neighbouring inputs.</summary>
    internal static void Upsample(Tensor y, Tensor x, double scaleH, double scaleW, int tapsH, int tapsW)
    {
        if (t_current is not { } i || i.FieldOf(x) is not { } f) return;
        i._fields[y] = new ReceptiveField(f.Height + (tapsH - 1) * f.JumpHeight, f.Width + (tapsW - 1) * f.JumpWidth,
            f.JumpHeight / scaleH, f.JumpWidth / scaleW);
    }

    /// <summary>An output that sees the whole input (a fully connected layer), or more if x's field is already wider.</summary>
    internal static void Whole(Tensor y, Tensor x)
    {
        if (t_current is not { } i) return;
        var f = i.FieldOf(x) ?? i._whole;
        i._fields[y] = new ReceptiveField(Math.Max(f.Height, i._whole.Height), Math.Max(f.Width, i._whole.Width), i._whole.JumpHeight, i._whole.JumpWidth);
    }

    /// <summary>Default for any other op: the widest field among its inputs (unless the op already reported one).</summary>
    internal static void Propagate(Tensor y, Tensor?[] inputs)
    {
        if (t_current is not { } i || i._fields.ContainsKey(y)) return;
        ReceptiveField? widest = null;
        foreach (var x in inputs)
            if (x is not null && i.FieldOf(x) is { } f && (widest is null || f.Height * f.Width > widest.Value.Height * widest.Value.Width))
                widest = f;
        if (widest is { } w) i._fields[y] = w;
    }

    /// <summary>The same for an op with up to four inputs (no array needed).</summary>
    internal static void Propagate(Tensor y, Tensor? a, Tensor? b, Tensor? c, Tensor? d = null)
    {
        if (t_current is not { } i || i._fields.ContainsKey(y)) return;
        ReceptiveField? widest = null;
        foreach (var x in (ReadOnlySpan<Tensor?>)[a, b, c, d])
            if (x is not null && i.FieldOf(x) is { } f && (widest is null || f.Height * f.Width > widest.Value.Height * widest.Value.Width))
                widest = f;
        if (widest is { } w) i._fields[y] = w;
    }

    public void Dispose() => t_current = _previous;
}
