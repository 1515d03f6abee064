using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Cpu;

/// <summary>
/// The channels-last weight gradient's micro-kernel for an A micro-panel read in place from xT (see
/// <see cref="ChannelsLastWeightGradient"/>): one tap of a full 12-channel block at stride 1, whose panel rows are, output
/// row by output row, runs of consecutive pixels of 12 floats each. C (12 x 32, row stride ldc) = or += the sum over
/// runs u of A_u (len[u] pixels x 12, from a[u]) * the next len[u] rows of the B panel (32 floats per pixel). Every
/// accumulator takes its multiply-adds in pixel order from zero, and C is combined after, exactly as
/// <see cref="GemmKernels.Kernel512"/> does for the same pixels packed into one panel: the bits are the same.
/// </summary>
internal static unsafe class TapRunKernel
{
    /// <summary>Rows of the tile: this kernel is written for the 512-bit kernel's 12 x 32 tile.</summary>
    internal const int Mr = 12;

    /// <summary>C (12 x 32) = or += sum over the runs of A_u * B (see the class summary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Kernel512(int runs, float** starts, int* lengths, float* b, float* c, nint ldc, bool accumulate)
    {
        Wide512Meter.Enter();
        Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero, c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero, c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero, c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero, c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero, c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero, c60 = Vector512<float>.Zero, c61 = Vector512<float>.Zero, c70 = Vector512<float>.Zero, c71 = Vector512<float>.Zero, c80 = Vector512<float>.Zero, c81 = Vector512<float>.Zero, c90 = Vector512<float>.Zero, c91 = Vector512<float>.Zero, c100 = Vector512<float>.Zero, c101 = Vector512<float>.Zero, c110 = Vector512<float>.Zero, c111 = Vector512<float>.Zero;
        for (int u = 0; u < runs; u++)
        {
            float* a = starts[u];
            int length = lengths[u], p = 0;
            // two pixels per iteration, as in GemmKernels.Kernel512
            for (; p + 2 <= length; p += 2)
            {
                {
                    var b0 = Vector512.Load(b + 0); var b1 = Vector512.Load(b + 16);
                    var a0 = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
                    var a1 = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                    var a2 = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                    var a3 = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                    var a4 = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                    var a5 = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
                    var a6 = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
                    var a7 = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
                    var a8 = Vector512.Create(a[8]); c80 = Vector512.FusedMultiplyAdd(a8, b0, c80); c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
                    var a9 = Vector512.Create(a[9]); c90 = Vector512.FusedMultiplyAdd(a9, b0, c90); c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
                    var a10 = Vector512.Create(a[10]); c100 = Vector512.FusedMultiplyAdd(a10, b0, c100); c101 = Vector512.FusedMultiplyAdd(a10, b1, c101);
                    var a11 = Vector512.Create(a[11]); c110 = Vector512.FusedMultiplyAdd(a11, b0, c110); c111 = Vector512.FusedMultiplyAdd(a11, b1, c111);
                }
                {
                    var b0 = Vector512.Load(b + 32); var b1 = Vector512.Load(b + 48);
                    var a0 = Vector512.Create(a[12]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
                    var a1 = Vector512.Create(a[13]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                    var a2 = Vector512.Create(a[14]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                    var a3 = Vector512.Create(a[15]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                    var a4 = Vector512.Create(a[16]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                    var a5 = Vector512.Create(a[17]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
                    var a6 = Vector512.Create(a[18]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
                    var a7 = Vector512.Create(a[19]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
                    var a8 = Vector512.Create(a[20]); c80 = Vector512.FusedMultiplyAdd(a8, b0, c80); c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
                    var a9 = Vector512.Create(a[21]); c90 = Vector512.FusedMultiplyAdd(a9, b0, c90); c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
                    var a10 = Vector512.Create(a[22]); c100 = Vector512.FusedMultiplyAdd(a10, b0, c100); c101 = Vector512.FusedMultiplyAdd(a10, b1, c101);
                    var a11 = Vector512.Create(a[23]); c110 = Vector512.FusedMultiplyAdd(a11, b0, c110); c111 = Vector512.FusedMultiplyAdd(a11, b1, c111);
                }
                a += 24;
                b += 64;
            }
            if (p < length)
            {
                var b0 = Vector512.Load(b + 0); var b1 = Vector512.Load(b + 16);
                var a0 = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
                var a1 = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                var a2 = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                var a3 = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
                var a4 = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
                var a5 = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
                var a6 = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
                var a7 = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
                var a8 = Vector512.Create(a[8]); c80 = Vector512.FusedMultiplyAdd(a8, b0, c80); c81 = Vector512.FusedMultiplyAdd(a8, b1, c81);
                var a9 = Vector512.Create(a[9]); c90 = Vector512.FusedMultiplyAdd(a9, b0, c90); c91 = Vector512.FusedMultiplyAdd(a9, b1, c91);
                var a10 = Vector512.Create(a[10]); c100 = Vector512.FusedMultiplyAdd(a10, b0, c100); c101 = Vector512.FusedMultiplyAdd(a10, b1, c101);
                var a11 = Vector512.Create(a[11]); c110 = Vector512.FusedMultiplyAdd(a11, b0, c110); c111 = Vector512.FusedMultiplyAdd(a11, b1, c111);
                b += 32;
            }
        }
        if (accumulate)
        {
            (c00 + Vector512.Load(c + 0 * ldc)).Store(c + 0 * ldc); (c01 + Vector512.Load(c + 0 * ldc + 16)).Store(c + 0 * ldc + 16);
            (c10 + Vector512.Load(c + 1 * ldc)).Store(c + 1 * ldc); (c11 + Vector512.Load(c + 1 * ldc + 16)).Store(c + 1 * ldc + 16);
            (c20 + Vector512.Load(c + 2 * ldc)).Store(c + 2 * ldc); (c21 + Vector512.Load(c + 2 * ldc + 16)).Store(c + 2 * ldc + 16);
            (c30 + Vector512.Load(c + 3 * ldc)).Store(c + 3 * ldc); (c31 + Vector512.Load(c + 3 * ldc + 16)).Store(c + 3 * ldc + 16);
            (c40 + Vector512.Load(c + 4 * ldc)).Store(c + 4 * ldc); (c41 + Vector512.Load(c + 4 * ldc + 16)).Store(c + 4 * ldc + 16);
            (c50 + Vector512.Load(c + 5 * ldc)).Store(c + 5 * ldc); (c51 + Vector512.Load(c + 5 * ldc + 16)).Store(c + 5 * ldc + 16);
            (c60 + Vector512.Load(c + 6 * ldc)).Store(c + 6 * ldc); (c61 + Vector512.Load(c + 6 * ldc + 16)).Store(c + 6 * ldc + 16);
            (c70 + Vector512.Load(c + 7 * ldc)).Store(c + 7 * ldc); (c71 + Vector512.Load(c + 7 * ldc + 16)).Store(c + 7 * ldc + 16);
            (c80 + Vector512.Load(c + 8 * ldc)).Store(c + 8 * ldc); (c81 + Vector512.Load(c + 8 * ldc + 16)).Store(c + 8 * ldc + 16);
            (c90 + Vector512.Load(c + 9 * ldc)).Store(c + 9 * ldc); (c91 + Vector512.Load(c + 9 * ldc + 16)).Store(c + 9 * ldc + 16);
            (c100 + Vector512.Load(c + 10 * ldc)).Store(c + 10 * ldc); (c101 + Vector512.Load(c + 10 * ldc + 16)).Store(c + 10 * ldc + 16);
            (c110 + Vector512.Load(c + 11 * ldc)).Store(c + 11 * ldc); (c111 + Vector512.Load(c + 11 * ldc + 16)).Store(c + 11 * ldc + 16);
        }
        else
        {
            c00.Store(c + 0 * ldc); c01.Store(c + 0 * ldc + 16);
            c10.Store(c + 1 * ldc); c11.Store(c + 1 * ldc + 16);
            c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16);
            c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
            c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16);
            c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
            c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16);
            c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16);
            c80.Store(c + 8 * ldc); c81.Store(c + 8 * ldc + 16);
            c90.Store(c + 9 * ldc); c91.Store(c + 9 * ldc + 16);
            c100.Store(c + 10 * ldc); c101.Store(c + 10 * ldc + 16);
            c110.Store(c + 11 * ldc); c111.Store(c + 11 * ldc + 16);
        }
    }
}

internal static unsafe partial class ChannelsLastWeightGradient
{
    /// <summary>
    /// A full panel of one tap (rows [row0, row0 + mr) of D, one tap of a full channel block) over pixels
    /// [k0, k0 + kc) at stride 1, as runs of xT_β: run u is lengths[u] consecutive pixels of one output row, 12 floats
    /// each from starts[u], exactly the rows <see cref="PackTaps"/> would copy. Returns the number of runs, or 0 when the
    /// panel is not such a panel (an edge or a narrow last block: it is packed).
    /// </summary>
    private static int TapRuns(in Plan plan, float* inputs, int k0, int kc, int row0, int rows, float** starts, int* lengths)
    {
        var g = plan.G;
        int block = row0 / (plan.RS * plan.CB), width = plan.Width(block);
        if (rows != plan.Mr || width != plan.Mr) return 0;
        int tap = (row0 - plan.RowOf(block)) / width, r = tap / g.Kernel.Width, s = tap % g.Kernel.Width;
        nint offset = ((nint)r * g.Dilation.Height * plan.Wp + (nint)s * g.Dilation.Width) * width;
        var pixels = new OutputRows(plan, inputs + plan.BlockStart(block), k0, width);
        int runs = 0;
        for (int k = 0; k < kc; runs++, pixels.Next())
        {
            // pixels [k, k + len) lie in one output row
            int len = Math.Min(kc - k, plan.Q - pixels.Q);
            starts[runs] = pixels.Start + (nint)pixels.Q * width + offset;
            lengths[runs] = len;
            k += len;
        }
        return runs;
    }

    /// <summary>
    /// Walks the pixels of a stage from pixel k0 on, output row by output row: <see cref="Start"/> is where output row p
    /// of image n starts in xT_β (whose pixels are <c>width</c> floats), <see cref="Q"/> the first pixel's column in it
    /// (k0's column for the first row, 0 after).
    /// </summary>
    private struct OutputRows
    {
        private readonly float* _blockStart;
        private readonly nint _rowStep, _imageStep;
        private readonly int _outHeight;
        private int _n, _p;

        public OutputRows(in Plan plan, float* blockStart, int k0, int width)
        {
            _blockStart = blockStart;
            _rowStep = (nint)plan.G.Stride.Height * plan.Wp * width;
            _imageStep = (nint)plan.Hp * plan.Wp * width;
            _outHeight = plan.P;
            _n = k0 / plan.PQ;
            _p = k0 % plan.PQ / plan.Q;
            Q = k0 % plan.Q;
            Start = blockStart + _n * _imageStep + _p * _rowStep;
        }

        public float* Start { get; private set; }
        public int Q { get; private set; }

        /// <summary>On to column 0 of the next output row (row 0 of the next image after the last).</summary>
        public void Next()
        {
            Q = 0;
            if (++_p < _outHeight) Start += _rowStep;
            else
            {
                _p = 0;
                Start = _blockStart + ++_n * _imageStep;
            }
        }
    }
}
