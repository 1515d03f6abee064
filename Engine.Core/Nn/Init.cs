namespace Engine.Nn;

/// <summary>Parameter initializers with PyTorch's defaults, drawn from a <see cref="Generator"/> on the host.</summary>
public static class Init
{
    /// <summary>
    /// PyTorch's default for Conv and Linear weights: kaiming_uniform(a = sqrt(5)), i.e. U(-b, b) with
    /// b = gain * sqrt(3 / fanIn), gain = sqrt(2 / (1 + a^2)), which is b = 1 / sqrt(fanIn).
    /// </summary>
    public static float[] KaimingUniform(int count, int fanIn, Generator? generator = null, float a = 2.2360679775f)
    {
        float gain = MathF.Sqrt(2f / (1f + a * a));
        float bound = gain * MathF.Sqrt(3f / fanIn);
        return (generator ?? Generator.Default).Uniform(count, -bound, bound);
    }

    /// <summary>PyTorch's default bias: U(-1/sqrt(fanIn), 1/sqrt(fanIn)).</summary>
    public static float[] BiasUniform(int count, int fanIn, Generator? generator = null)
    {
        float bound = fanIn > 0 ? 1f / MathF.Sqrt(fanIn) : 0f;
        return (generator ?? Generator.Default).Uniform(count, -bound, bound);
    }

    public static float[] Constant(int count, float value)
    {
        var v = new float[count];
        Array.Fill(v, value);
        return v;
    }
}
