namespace Engine.Tests.Support;

public abstract partial class BackendFixture
{
    /// <summary>
    /// The autograd property: for y = op(inputs) on the backend and a random projection R, the loss L = &lt;R, y&gt;
    /// has dL/dInput (from y.Backward(R)) equal to central differences of &lt;R, reference(inputs)&gt; computed in
    /// double, at up to <paramref name="probes"/> random elements of each input that needs a gradient.
    /// </summary>
    /// <param name="inputs">Input values (float32-representable) and shapes; <c>Grad</c> false for inputs held constant.</param>
    /// <returns>The projection R, for checking gradients of parameters the op holds itself.</returns>
    protected double[] AssertAutogradMatchesFiniteDifferences(
        string what, Random random, (double[] Values, int[] Shape, bool Grad)[] inputs,
        Func<Tensor[], Tensor> op, Func<double[][], double[]> reference,
        double h = 1e-3, int probes = 24, double rtol = 2e-3, double atol = 2e-4)
    {
        var tensors = inputs.Select(input =>
        {
            var t = Upload(input.Values, input.Shape);
            t.RequiresGrad = input.Grad;
            return t;
        }).ToArray();
        var y = op(tensors);
        var projection = Numerics.Uniform(random, y.Length);
        y.Backward(Upload(projection, y.Shape.ToArray()));
        var values = inputs.Select(input => (double[])input.Values.Clone()).ToArray();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].Grad) continue;
            var grad = tensors[i].Grad ?? throw new InvalidOperationException($"{what}: input {i} got no gradient");
            int index = i;
            double Loss(double[] x)
            {
                values[index] = x;
                return Numerics.Dot(projection, reference(values));
            }
            var probed = Numerics.SampleIndices(random, inputs[i].Values.Length, probes);
            var fd = Numerics.FiniteDifferences(Loss, (double[])inputs[i].Values.Clone(), h, probed);
            values[i] = inputs[i].Values;
            Numerics.AssertGradient(grad.ToArray(), fd, probed, rtol, atol, $"{what}: d/d input {i} {string.Join('x', inputs[i].Shape)}");
        }
        return projection;
    }

    /// <summary>
    /// Asserts that a parameter's autograd gradient matches central differences of &lt;R, reference(parameter)&gt;
    /// (the projection R from <see cref="AssertAutogradMatchesFiniteDifferences"/>).
    /// </summary>
    protected static void AssertParameterGradient(string what, Random random, Tensor parameter, double[] values, double[] projection,
        Func<double[], double[]> reference, double h = 1e-3, int probes = 24, double rtol = 2e-3, double atol = 2e-4)
    {
        var grad = parameter.Grad ?? throw new InvalidOperationException($"{what}: the parameter got no gradient");
        var probed = Numerics.SampleIndices(random, values.Length, probes);
        var fd = Numerics.FiniteDifferences(w => Numerics.Dot(projection, reference(w)), (double[])values.Clone(), h, probed);
        Numerics.AssertGradient(grad.ToArray(), fd, probed, rtol, atol, what);
    }
}
