using Engine.Nn;

namespace Engine.Visualization;

/// <summary>
/// What to maximize: the output of <see cref="Layer"/> (a module's dotted name, or "output" for the model's logits)
/// at <see cref="Channel"/> (a feature map, or a feature / class of an (N, F) output). With <see cref="Row"/> and
/// <see cref="Column"/> one neuron of that feature map; without them the feature map's mean.
/// </summary>
public sealed record ActivationTarget(string Layer, int Channel, int? Row = null, int? Column = null)
{
    /// <summary>The class logit <paramref name="classIndex"/> of the model's output.</summary>
    public static ActivationTarget Class(int classIndex) => new(Layers.Output, classIndex);

    public override string ToString() =>
        $"{Layer} channel {Channel}{(Row is { } r && Column is { } c ? $" at ({r}, {c})" : "")}";
}

/// <summary>
/// Gradient ascent settings. Each step: shift the image by a random jitter of up to <see cref="Jitter"/> pixels
/// (wrapping around), take the gradient of the objective with respect to the input, shift it back, and move by
/// <see cref="StepSize"/> x (high - low) x g / rms(g) (while a target behind a ReLU is off, g is the gradient of its
/// pre-activation; without one, a step of uniform noise); then pull towards the mid value by <see cref="Decay"/>
/// (L2 regularization), blur every <see cref="BlurEvery"/> steps with a Gaussian of <see cref="BlurSigma"/>,
/// and clamp to [<see cref="Low"/>, <see cref="High"/>] (the model's input range).
/// </summary>
public sealed record MaximizationSettings(int Steps = 128, float StepSize = 0.02f, int Jitter = 2, float BlurSigma = 0.5f,
    int BlurEvery = 4, float Decay = 0.002f, float Low = 0f, float High = 1f, ulong Seed = 1)
{
    public void Validate()
    {
        if (Steps < 1 || !(StepSize > 0f) || Jitter < 0 || !(BlurSigma > 0f) || BlurEvery < 1 || !(Decay >= 0f && Decay < 1f) || !(High > Low))
            throw new ArgumentException($"activation maximization: expected steps >= 1, step size > 0, jitter >= 0, blur sigma > 0, blur every >= 1, decay in [0, 1) and low < high, got {this}");
    }
}

/// <summary>The optimized input (1 x C x H x W values) and the objective on the starting and the final image (no jitter).</summary>
public sealed record MaximizationResult(float[] Input, Shape InputShape, float StartActivation, float FinalActivation)
{
    /// <summary>Final / start activation; NaN unless the start is positive (a ratio means nothing otherwise).</summary>
    public float Factor => StartActivation > 0f ? FinalActivation / StartActivation : float.NaN;
}

/// <summary>
/// Activation maximization (Erhan et al. 2009; with the jitter and blur regularizers of Yosinski et al. 2015):
/// gradient ascent on the input image to make a chosen neuron, feature map or class logit as large as possible.
/// The model runs in eval mode; its weights do not change.
/// </summary>
public static class ActivationMaximization
{
    public static MaximizationResult Run(Module model, ActivationTarget target, Shape inputShape, IBackend backend, MaximizationSettings? settings = null)
    {
        var s = settings ?? new MaximizationSettings();
        s.Validate();
        if (inputShape.Rank != 4 || inputShape.Batch != 1)
            throw new ArgumentException($"activation maximization: expected one input image (1,C,H,W), got {inputShape}");
        var layer = Layers.Find(model, target.Layer);
        model.Eval();
        // Only the input needs a gradient: the weights stay out of the backward pass (and keep no Grad).
        var parameters = model.Parameters().Where(p => p.RequiresGrad).ToList();
        foreach (var p in parameters) p.RequiresGrad = false;
        try { return Ascend(model, layer, target, inputShape, backend, s); }
        finally
        {
            foreach (var p in parameters) p.RequiresGrad = true;
        }
    }

    private static MaximizationResult Ascend(Module model, Module layer, ActivationTarget target, Shape inputShape, IBackend backend, MaximizationSettings s)
    {
        int channels = inputShape.Channels, h = inputShape.Height, w = inputShape.Width;
        float mid = (s.Low + s.High) / 2f, range = s.High - s.Low;
        // Start: the mid value plus +-5% uniform noise.
        var start = new Generator(s.Seed).Uniform(inputShape.Size, mid - 0.05f * range, mid + 0.05f * range);
        var x = (float[])start.Clone();
        var gaussian = ClassicKernels.Gaussian(s.BlurSigma);
        var jitter = new Generator(s.Seed + 1);
        for (int step = 0; step < s.Steps; step++)
        {
            var shift = jitter.Uniform(2, -s.Jitter, s.Jitter + 1);
            int dy = (int)MathF.Floor(shift[0]), dx = (int)MathF.Floor(shift[1]);
            var shifted = Roll(x, channels, h, w, dy, dx);
            var gradient = Gradient(model, layer, target, shifted, inputShape, backend, preActivation: false);
            // A target behind a ReLU that is off has no gradient: climb its pre-activation until it turns on.
            if (SumOfSquares(gradient) == 0)
                gradient = Gradient(model, layer, target, shifted, inputShape, backend, preActivation: true);
            gradient = Roll(gradient, channels, h, w, -dy, -dx);
            double squares = SumOfSquares(gradient);
            float rms = (float)Math.Sqrt(squares / gradient.Length), scale = s.StepSize * range / (rms + 1e-12f);
            // Still nothing (no pre-activation of the same shape to climb): explore with a noise step.
            if (squares == 0) (gradient, scale) = (jitter.Uniform(x.Length, -1f, 1f), s.StepSize * range);
            for (int i = 0; i < x.Length; i++) x[i] = mid + (x[i] + scale * gradient[i] - mid) * (1f - s.Decay);
            if ((step + 1) % s.BlurEvery == 0) x = Blur(x, inputShape, gaussian, backend);
            for (int i = 0; i < x.Length; i++) x[i] = Math.Clamp(x[i], s.Low, s.High);
        }
        return new MaximizationResult(x, inputShape, Objective(model, layer, target, start, inputShape, backend), Objective(model, layer, target, x, inputShape, backend));
    }

    /// <summary>The objective of <paramref name="target"/> for the input <paramref name="values"/>, without gradients.</summary>
    public static float Objective(Module model, Module layer, ActivationTarget target, float[] values, Shape shape, IBackend backend)
    {
        model.Eval();
        using var scope = Scope.Begin();
        using var noGrad = Autograd.NoGrad();
        return Select(Layers.Capture(model, layer, Tensor.FromArray(backend, values, shape)), target, layer).Item();
    }

    /// <summary>
    /// d objective / d input at <paramref name="values"/>; with <paramref name="preActivation"/>, of the same selection
    /// from the layer's input (the output of the module that ran just before it, when it has the same shape: the
    /// convolution before a ReLU), else zeros.
    /// </summary>
    private static float[] Gradient(Module model, Module layer, ActivationTarget target, float[] values, Shape shape, IBackend backend, bool preActivation)
    {
        using var scope = Scope.Begin();
        var input = Tensor.FromArray(backend, values, shape);
        input.RequiresGrad = true;
        var (output, before) = Layers.CaptureWithPrevious(model, layer, input);
        if (preActivation && (before is null || before.Shape != output.Shape || !before.TracksGrad)) return new float[values.Length];
        Select(preActivation ? before! : output, target, layer).Backward();
        using var gradient = input.Grad ?? throw new InvalidOperationException($"activation maximization: {target} does not depend on the input");
        return gradient.ToArray();
    }

    /// <summary>The scalar objective read from a layer's output: one neuron, or the mean of one feature map, or one feature.</summary>
    private static Tensor Select(Tensor y, ActivationTarget target, Module layer)
    {
        if (y.Rank < 2 || (uint)target.Channel >= (uint)y.Shape.Channels)
            throw new ArgumentException($"activation maximization: {layer.Describe()} outputs {y.Shape}; expected channel {target.Channel} to be in [0, {(y.Rank >= 2 ? y.Shape.Channels : 0)})");
        var map = Ops.Narrow(y, 1, target.Channel, 1);
        if (target.Row is not { } row || target.Column is not { } column) return Ops.Mean(map);
        if (y.Rank != 4 || (uint)row >= (uint)y.Shape.Height || (uint)column >= (uint)y.Shape.Width)
            throw new ArgumentException($"activation maximization: {layer.Describe()} outputs {y.Shape}; expected the neuron ({row}, {column}) inside its feature maps");
        return Ops.Sum(Ops.Narrow(Ops.Narrow(map, 2, row, 1), 3, column, 1));
    }

    private static double SumOfSquares(float[] values)
    {
        double sum = 0;
        foreach (float v in values) sum += (double)v * v;
        return sum;
    }

    /// <summary>Each C x H x W plane shifted by (dy, dx) with wrap-around: y[c, i, j] = x[c, (i - dy) mod H, (j - dx) mod W].</summary>
    public static float[] Roll(float[] x, int channels, int h, int w, int dy, int dx)
    {
        var y = new float[x.Length];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < h; i++)
            {
                int from = ((i - dy) % h + h) % h;
                for (int j = 0; j < w; j++) y[(c * h + i) * w + j] = x[(c * h + from) * w + ((j - dx) % w + w) % w];
            }
        return y;
    }

    private static float[] Blur(float[] x, Shape shape, float[,] gaussian, IBackend backend)
    {
        using var scope = Scope.Begin();
        using var noGrad = Autograd.NoGrad();
        return ClassicKernels.Apply(Tensor.FromArray(backend, x, shape), gaussian).ToArray();
    }
}
