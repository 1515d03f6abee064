using Engine.Nn;

namespace Engine.Inference;

/// <summary>
/// Serves predictions from one loaded model to many threads at once: any number of threads may call
/// <see cref="Predict(ReadOnlySpan{float}, Span{float})"/> concurrently on the same predictor.
/// <para>Why it is safe: the model is put in eval mode once and never changed afterwards (dropout off, batch norm
/// on its running statistics), calls run without autograd, and everything a call creates lives in a
/// <see cref="Scope"/> of the calling thread (scopes, no-grad regions and the CPU kernels' packing scratch are
/// per thread; the backend's buffer pool is locked).</para>
/// <para>What a call allocates: in steady state, nothing on the GC heap but the output array of
/// <see cref="Predict(ReadOnlySpan{float})"/> (<see cref="Predict(ReadOnlySpan{float}, Span{float})"/> allocates
/// nothing), counted over every thread, for the zoo's models on the CPU backend. Float buffers come from the
/// backend's pool; the worker pool dispatches without allocating; and the call runs in a recycling scope, whose
/// tensor handles go back to a per-thread free list when it ends, since nothing made inside a call outlives it.
/// A custom module must therefore not keep a tensor made during a call beyond the call (using one afterwards throws
/// until its handle is reused, and then reads another call's data); module observers and inspections turn
/// recycling off.</para>
/// <para>Do not train, move or modify the model while a predictor uses it.</para>
/// </summary>
public sealed class Predictor
{
    private readonly Module _model;

    /// <summary>Puts <paramref name="model"/> on <paramref name="backend"/> in eval mode and runs it once on
    /// zeros of <paramref name="inputShape"/> (batch included) to learn the output shape.</summary>
    public Predictor(Module model, IBackend backend, Shape inputShape)
    {
        _model = model;
        Backend = backend;
        InputShape = inputShape;
        model.To(backend);
        model.Eval();
        using var noGrad = Autograd.NoGrad();
        using var scope = Scope.Begin();
        OutputShape = model.Forward(Tensor.Zeros(backend, inputShape)).Shape;
    }

    public IBackend Backend { get; }

    /// <summary>The shape every call takes, (N, C, H, W) for images.</summary>
    public Shape InputShape { get; }

    /// <summary>The shape every call returns, (N, classes) for classifiers.</summary>
    public Shape OutputShape { get; }

    /// <summary>Writes the model's output for <paramref name="input"/> (row-major, <see cref="InputShape"/>) to
    /// <paramref name="output"/> (<see cref="OutputShape"/>). Thread-safe.</summary>
    public void Predict(ReadOnlySpan<float> input, Span<float> output)
    {
        if (input.Length != InputShape.Size)
            throw new ArgumentException($"predictor: expected {InputShape.Size} input values for shape {InputShape}, got {input.Length}");
        if (output.Length != OutputShape.Size)
            throw new ArgumentException($"predictor: expected room for {OutputShape.Size} output values of shape {OutputShape}, got {output.Length}");
        using var noGrad = Autograd.NoGrad();
        using var scope = Scope.BeginRecycling();
        var y = _model.Forward(Tensor.FromArray(Backend, input, InputShape));
        if (y.Shape != OutputShape)
            throw new InvalidOperationException($"predictor: {_model.Describe()} returned shape {y.Shape}, expected {OutputShape}");
        y.CopyTo(output);
    }

    /// <summary>The model's output for <paramref name="input"/> as a new array. Thread-safe.</summary>
    public float[] Predict(ReadOnlySpan<float> input)
    {
        var output = new float[OutputShape.Size];
        Predict(input, output);
        return output;
    }
}
