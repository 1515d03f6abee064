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

    /// <summary>
    /// Most floats of a stage (2 MB: with the GEMM's packed operands, at most 5.5 MB, the calling thread stays within
    /// 8 MB of scratch); a larger batch is staged a group of whole images at a time. Tests lower it.
    /// </summary>
    internal static long StageMaxFloats { get; set; } = DefaultStageMaxFloats;

    internal const long DefaultStageMaxFloats = 1 << 19;

    /// <summary>The contiguous Kg x (images x PQ) stage of the calling thread (grown as needed, kept).</summary>
    [ThreadStatic] private static AlignedScratch? t_stage;

    /// <summary>
    /// y_g (Kg x NPQ) = bias_g + W_g (Kg x CRS) * columns (CRS x NPQ): with cached weights and few pixels on several
    /// threads (ResNet's 7 x 7 maps at batch 8), one share of the columns per thread, each staging its own part of C
    /// (<see cref="GemmDriver.RunShares{TB}"/>); else column chunks adding the bias themselves
    /// (<paramref name="split"/>), or the blocked driver onto C filled with the bias first. When an image's pixels are
    /// few and not a whole number of kernel tiles (ResNet's 14 x 14 and 7 x 7 maps at batch &gt; 1), most tiles would
    /// straddle two images and go through a local tile and an element-wise store on every K block; then C is a
    /// contiguous stage (every tile stored straight by the kernel) of whole images, at most 2 MB, copied out image by
    /// image. Either way each element gets the same arithmetic, so the bits do not change.
    /// </summary>
    private unsafe void ForwardGemm<TW, TX>(TW weights, TX columns, ConvOutput output, int kg, int npq, int crs, float* bias, bool split)
        where TW : struct, IPanelSource where TX : struct, IPanelSource
    {
        if (typeof(TW) == typeof(PrepackedSource) && GemmDriver.UseShares(kg, npq, crs, _workers.Threads, prepacked: true))
        {
            GemmDriver.RunShares(System.Runtime.CompilerServices.Unsafe.As<TW, PrepackedSource>(ref weights), columns, output.Target, kg, npq, crs, bias, _workers);
            return;
        }
        int nr = GemmKernels.Use512 ? GemmKernels.Nr512 : GemmKernels.Nr256;
        bool staged = npq > output.Pq && output.Pq % nr != 0 && output.Pq <= StagedMaxPixels && (long)kg * output.Pq <= StageMaxFloats;
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
        // whole images per stage, at most StageMaxFloats floats: scratch stays bounded
        int pq = output.Pq, images = npq / pq;
        int perStage = (int)Math.Clamp(StageMaxFloats / ((long)kg * pq), 1, images);
        float* stage = AlignedScratch.AtLeast(ref t_stage, (long)kg * perStage * pq);
        for (int n0 = 0; n0 < images; n0 += perStage)
        {
            int width = Math.Min(perStage, images - n0) * pq;
            if (bias is not null && !split)
                _workers.For(kg, ((nint)stage, (nint)bias, width), static (s, i) =>
                    new Span<float>((float*)s.Item1 + (nint)i * s.width, s.width).Fill(((float*)s.Item2)[i]));
            ForwardGemm(weights, new ColumnSlice<TX>(columns, n0 * pq), new GemmTarget(stage, width), kg, width, crs, bias, split);
            // y_g[n0 + n, i, :] = stage[i, n*PQ .. (n+1)*PQ)
            _workers.For(kg, ((nint)stage, output, width, n0), static (s, i) =>
            {
                var (stageAt, output, width, n0) = s;
                float* row = (float*)stageAt + (nint)i * width;
                for (int n = n0, j = 0; j < width; n++, j += output.Pq)
                    new Span<float>(row + j, output.Pq).CopyTo(new Span<float>(output.Y + n * output.ImageStride + (nint)i * output.Pq, output.Pq));
            });
        }
    }

    /// <summary>C = bias + W_g * columns (split: the chunks add the bias) or C += W_g * columns (C already holds the bias, if any).</summary>
    private unsafe void ForwardGemm<TW, TX>(TW weights, TX columns, GemmTarget target, int kg, int npq, int crs, float* bias, bool split)
        where TW : struct, IPanelSource where TX : struct, IPanelSource
    {
        if (split) GemmDriver.RunColumns(weights, columns, target, kg, npq, crs, bias, accumulate: false, _workers);
        else GemmDriver.Run(weights, columns, target, kg, npq, crs, accumulate: bias is not null, _workers);
    }
}
