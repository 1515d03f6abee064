namespace Engine.Cpu;

/// <summary>
/// One group's output of a convolution seen as the GEMM's C (Kg x NPQ): element (i, n*PQ + pq) at
/// y + n*imageStride + i*PQ + pq (images one after another, each Kg planes of PQ pixels).
/// </summary>
internal readonly unsafe struct ConvOutput(float* y, int pq, nint imageStride)
{
    public readonly float* Y = y;
    public readonly int Pq = pq;
    public readonly nint ImageStride = imageStride;

    public GemmTarget Target => new(Y, Pq, Pq, ImageStride);
}

// Legend: N batch, Kg out channels per group, CRS the GEMM's depth, PQ pixels per image, NPQ = N*PQ.
public sealed partial class CpuBackend
{
    /// <summary>Most pixels per image for which a batch's output is computed in a contiguous stage first.</summary>
    private const int StagedMaxPixels = 512;

    /// <summary>The contiguous Kg x NPQ stage of the calling thread (grown as needed, kept).</summary>
    [ThreadStatic] private static AlignedScratch? t_stage;

    /// <summary>
    /// y_g (Kg x NPQ) = bias_g + W_g (Kg x CRS) * columns (CRS x NPQ): column chunks adding the bias themselves
    /// (<paramref name="split"/>), or the blocked driver onto C filled with the bias first. When an image's pixels are
    /// few and not a whole number of kernel tiles (ResNet's 14 x 14 and 7 x 7 maps at batch &gt; 1), most tiles would straddle
    /// two images and go through a local tile and an element-wise store on every K block; then C is a contiguous
    /// stage (every tile stored straight by the kernel) copied out image by image at the end. Either way each element
    /// gets the same arithmetic, so the bits do not change.
    /// </summary>
    private unsafe void ForwardGemm<TW, TX>(TW weights, TX columns, ConvOutput output, int kg, int npq, int crs, float* bias, bool split)
        where TW : struct, IPanelSource where TX : struct, IPanelSource
    {
        int nr = GemmKernels.Use512 ? GemmKernels.Nr512 : GemmKernels.Nr256;
        bool staged = npq > output.Pq && output.Pq % nr != 0 && output.Pq <= StagedMaxPixels;
        if (!staged)
        {
            var target = output.Target;
            if (bias is not null && !split)
                _workers.For(npq / output.Pq, (output, (nint)bias, kg), static (s, n) =>
                {
                    var (output, biasAt, kg) = s;
                    for (int i = 0; i < kg; i++)
                        new Span<float>(output.Y + n * output.ImageStride + (nint)i * output.Pq, output.Pq).Fill(((float*)biasAt)[i]);
                });
            ForwardGemm(weights, columns, target, kg, npq, crs, bias, split);
            return;
        }
        if (t_stage is null || t_stage.Length < (long)kg * npq) t_stage = new AlignedScratch((long)kg * npq);
        float* stage = t_stage.Pointer;
        if (bias is not null && !split)
            _workers.For(kg, ((nint)stage, (nint)bias, npq), static (s, i) =>
                new Span<float>((float*)s.Item1 + (nint)i * s.npq, s.npq).Fill(((float*)s.Item2)[i]));
        ForwardGemm(weights, columns, new GemmTarget(stage, npq), kg, npq, crs, bias, split);
        // y_g[n, i, :] = stage[i, n*PQ .. (n+1)*PQ)
        _workers.For(kg, ((nint)stage, output, npq), static (s, i) =>
        {
            var (stageAt, output, npq) = s;
            float* row = (float*)stageAt + (nint)i * npq;
            for (int n = 0, j = 0; j < npq; n++, j += output.Pq)
                new Span<float>(row + j, output.Pq).CopyTo(new Span<float>(output.Y + n * output.ImageStride + (nint)i * output.Pq, output.Pq));
        });
    }

    /// <summary>C = bias + W_g * columns (split: the chunks add the bias) or C += W_g * columns (C already holds the bias, if any).</summary>
    private unsafe void ForwardGemm<TW, TX>(TW weights, TX columns, GemmTarget target, int kg, int npq, int crs, float* bias, bool split)
        where TW : struct, IPanelSource where TX : struct, IPanelSource
    {
        if (split) GemmDriver.RunColumns(weights, columns, target, kg, npq, crs, bias, accumulate: false, _workers);
        else GemmDriver.Run(weights, columns, target, kg, npq, crs, accumulate: bias is not null, _workers);
    }
}
