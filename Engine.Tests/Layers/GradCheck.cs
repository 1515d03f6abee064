using Engine.Cpu;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Layers;

/// <summary>
/// Checks an op against a double-precision reference: forward values, and the autograd backward against central
/// finite differences of the reference (L = sum(w * y) for random weights w, so every output contributes).
/// </summary>
internal static class GradCheck
{
    public static readonly CpuBackend Backend = new(2);

    /// <summary>
    /// Runs <paramref name="body"/> for random data seeds as an FsCheck property, replayable like every property of
    /// the suite (ENGINE_FSCHECK_SEED / ENGINE_FSCHECK_RUNS, see <see cref="Properties"/>).
    /// </summary>
    public static void ForAllSeeds(int runs, Action<int> body) => Properties.Check(Properties.DataSeed, body, runs);

    public static float[] Random(Random rng, int count, double low = -1, double high = 1)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(low + (high - low) * rng.NextDouble());
        return v;
    }

    /// <param name="inputs">Input values and shapes; every input gets a gradient.</param>
    /// <param name="op">The engine op under test.</param>
    /// <param name="reference">The same function in double precision.</param>
    public static void Check(Random rng, (float[] Values, Shape Shape)[] inputs, Func<Tensor[], Tensor> op,
        Func<double[][], double[]> reference, double tolerance = 1e-2, int probes = 16, double step = 1e-6)
    {
        using var scope = Scope.Begin();
        var tensors = inputs.Select(i => { var t = Tensor.FromArray(Backend, i.Values, i.Shape); t.RequiresGrad = true; return t; }).ToArray();
        var y = op(tensors);
        var doubles = inputs.Select(i => i.Values.Select(v => (double)v).ToArray()).ToArray();
        var expected = reference(doubles);
        var actual = y.ToArray();
        Assert.That(actual, Has.Length.EqualTo(expected.Length), "output size");
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(tolerance * (1 + Math.Abs(expected[i]))), $"forward output {i} of {y.Shape}");

        var weights = Random(rng, actual.Length);
        var loss = Ops.Sum(Ops.Multiply(y, Tensor.FromArray(Backend, weights, y.Shape)));
        loss.Backward();
        double Loss(double[][] x)
        {
            var r = reference(x);
            double sum = 0;
            for (int i = 0; i < r.Length; i++) sum += weights[i] * r[i];
            return sum;
        }
        for (int k = 0; k < inputs.Length; k++)
        {
            var grad = tensors[k].Grad?.ToArray() ?? new float[inputs[k].Values.Length];
            int count = inputs[k].Values.Length;
            for (int p = 0; p < Math.Min(probes, count); p++)
            {
                int j = count <= probes ? p : rng.Next(count);
                double saved = doubles[k][j];
                doubles[k][j] = saved + step;
                double up = Loss(doubles);
                doubles[k][j] = saved - step;
                double down = Loss(doubles);
                doubles[k][j] = saved;
                double fd = (up - down) / (2 * step);
                Assert.That(grad[j], Is.EqualTo(fd).Within(tolerance * (1 + Math.Abs(fd))), $"d loss / d input{k}[{j}] (finite difference {fd})");
            }
        }
    }
}
