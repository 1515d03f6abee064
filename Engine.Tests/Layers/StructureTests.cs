using Engine.Nn;
using NUnit.Framework;

namespace Engine.Tests.Layers;

/// <summary>Transposed convolution, resizing and data-movement ops against direct double-precision definitions.</summary>
public class StructureTests
{
    [Test]
    public void ConvTranspose2dMatchesScatterDefinition() =>
        GradCheck.ForAllSeeds(12, seed =>
        {
            var rng = new Random(seed);
            int groups = rng.Next(1, 3), cin = groups * rng.Next(1, 3), coutG = rng.Next(1, 3), cout = coutG * groups;
            int n = rng.Next(1, 3), h = rng.Next(1, 4), w = rng.Next(1, 4), r = rng.Next(1, 4), s = rng.Next(1, 4);
            int stride = rng.Next(1, 3), dil = rng.Next(1, 3), pad = rng.Next(0, Math.Min(r, s) * dil / 2 + 1);
            int outPad = rng.Next(0, Math.Max(stride, dil));
            int oh = (h - 1) * stride - 2 * pad + dil * (r - 1) + outPad + 1, ow = (w - 1) * stride - 2 * pad + dil * (s - 1) + outPad + 1;
            if (oh <= 0 || ow <= 0) return;
            var xs = new Shape(n, cin, h, w);
            var ws = new Shape(cin, coutG, r, s);
            GradCheck.Check(rng,
                [(GradCheck.Random(rng, xs.Size), xs), (GradCheck.Random(rng, ws.Size), ws), (GradCheck.Random(rng, cout), new Shape(cout))],
                t => Ops.ConvTranspose2d(t[0], t[1], t[2], stride, pad, outPad, dil, groups),
                v =>
                {
                    var y = new double[n * cout * oh * ow];
                    for (int b = 0; b < n; b++)
                        for (int co = 0; co < cout; co++)
                            for (int i = 0; i < oh * ow; i++) y[(b * cout + co) * oh * ow + i] = v[2][co];
                    for (int b = 0; b < n; b++)
                        for (int ci = 0; ci < cin; ci++)
                        {
                            int g = ci / (cin / groups);
                            for (int co = 0; co < coutG; co++)
                                for (int ih = 0; ih < h; ih++)
                                    for (int iw = 0; iw < w; iw++)
                                        for (int kr = 0; kr < r; kr++)
                                            for (int ks = 0; ks < s; ks++)
                                            {
                                                int y0 = ih * stride - pad + kr * dil, x0 = iw * stride - pad + ks * dil;
                                                if (y0 < 0 || y0 >= oh || x0 < 0 || x0 >= ow) continue;
                                                y[((b * cout + g * coutG + co) * oh + y0) * ow + x0] +=
                                                    v[0][((b * cin + ci) * h + ih) * w + iw] * v[1][((ci * coutG + co) * r + kr) * s + ks];
                                            }
                        }
                    return y;
                });
        });

    [Test]
    public void ConvTranspose2dRejectsOutputPaddingNotBelowStrideOrDilation()
    {
        var e = Assert.Throws<ArgumentException>(() => new ConvTranspose2d(2, 2, 3, stride: 2, outputPadding: 2));
        Assert.That(e!.Message, Does.Contain("output padding").And.Contain("smaller than either the stride"));
    }

    [TestCase(ResizeMode.Nearest, false)]
    [TestCase(ResizeMode.Bilinear, false)]
    [TestCase(ResizeMode.Bilinear, true)]
    public void Resize2dMatchesPyTorchCoordinates(ResizeMode mode, bool alignCorners) =>
        GradCheck.ForAllSeeds(12, seed =>
        {
            var rng = new Random(seed);
            int h = rng.Next(1, 6), w = rng.Next(1, 6), oh = rng.Next(1, 9), ow = rng.Next(1, 9);
            var shape = new Shape(1, 2, h, w);
            double Src(int o, int inSize, int outSize) => alignCorners
                ? (outSize > 1 ? o * (inSize - 1.0) / (outSize - 1) : 0)
                : Math.Max((o + 0.5) * inSize / outSize - 0.5, 0);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)],
                t => Ops.Resize2d(t[0], oh, ow, mode, alignCorners),
                v =>
                {
                    var y = new double[2 * oh * ow];
                    for (int c = 0; c < 2; c++)
                        for (int i = 0; i < oh; i++)
                            for (int j = 0; j < ow; j++)
                            {
                                double X(int a, int b) => v[0][(c * h + a) * w + b];
                                if (mode == ResizeMode.Nearest)
                                {
                                    y[(c * oh + i) * ow + j] = X(Math.Min(i * h / oh, h - 1), Math.Min(j * w / ow, w - 1));
                                    continue;
                                }
                                double sy = Src(i, h, oh), sx = Src(j, w, ow);
                                int y0 = Math.Min((int)sy, h - 1), x0 = Math.Min((int)sx, w - 1), y1 = Math.Min(y0 + 1, h - 1), x1 = Math.Min(x0 + 1, w - 1);
                                double ly = sy - y0, lx = sx - x0;
                                y[(c * oh + i) * ow + j] = (1 - ly) * ((1 - lx) * X(y0, x0) + lx * X(y0, x1)) + ly * ((1 - lx) * X(y1, x0) + lx * X(y1, x1));
                            }
                    return y;
                }, tolerance: 1e-3);
        });

    [Test]
    public void PixelShuffleMovesChannelsToSpace()
    {
        using var scope = Scope.Begin();
        // (1, 4, 1, 1) with r = 2 becomes the 2x2 plane [[0, 1], [2, 3]].
        var x = Tensor.FromArray(GradCheck.Backend, [0, 1, 2, 3], new Shape(1, 4, 1, 1));
        var y = Ops.PixelShuffle(x, 2);
        Assert.That(y.Shape, Is.EqualTo(new Shape(1, 1, 2, 2)));
        Assert.That(y.ToArray(), Is.EqualTo(new float[] { 0, 1, 2, 3 }));
        GradCheck.ForAllSeeds(8, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 3), c = rng.Next(1, 3), r = rng.Next(1, 4), h = rng.Next(1, 3), w = rng.Next(1, 3);
            var shape = new Shape(n, c * r * r, h, w);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)], t => Ops.PixelShuffle(t[0], r), v =>
            {
                var o = new double[shape.Size];
                for (int b = 0; b < n; b++)
                    for (int ch = 0; ch < c; ch++)
                        for (int yy = 0; yy < h * r; yy++)
                            for (int xx = 0; xx < w * r; xx++)
                                o[((b * c + ch) * h * r + yy) * w * r + xx] = v[0][((b * c * r * r + ch * r * r + yy % r * r + xx % r) * h + yy / r) * w + xx / r];
                return o;
            });
        });
    }

    [Test]
    public void ConcatAndNarrowAreInverse() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int rank = rng.Next(1, 5), axis = rng.Next(rank);
            var dims = Enumerable.Range(0, rank).Select(_ => rng.Next(1, 4)).ToArray();
            var a = new Shape(dims);
            var bDims = (int[])dims.Clone();
            bDims[axis] = rng.Next(1, 4);
            var b = new Shape(bDims);
            int outer = a.Product(0, axis), innerA = a.Product(axis, rank), innerB = b.Product(axis, rank);
            GradCheck.Check(rng, [(GradCheck.Random(rng, a.Size), a), (GradCheck.Random(rng, b.Size), b)],
                t => Ops.Narrow(Ops.Concat([t[0], t[1], t[0]], axis), axis, 1, a[axis] + b[axis]),
                v =>
                {
                    var y = new List<double>();
                    for (int o = 0; o < outer; o++)
                    {
                        var rowA = v[0].Skip(o * innerA).Take(innerA).ToArray();
                        var full = rowA.Concat(v[1].Skip(o * innerB).Take(innerB)).Concat(rowA).ToArray();
                        int inner = innerA / a[axis];
                        y.AddRange(full.Skip(inner).Take((a[axis] + b[axis]) * inner));
                    }
                    return y.ToArray();
                });
        });

    [Test]
    public void PermuteMatchesIndexDefinition() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int rank = rng.Next(1, 5);
            var dims = Enumerable.Range(0, rank).Select(_ => rng.Next(1, 4)).ToArray();
            var axes = Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();
            var shape = new Shape(dims);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)], t => Ops.Permute(t[0], axes), v =>
            {
                var outDims = axes.Select(a => dims[a]).ToArray();
                var y = new double[shape.Size];
                var index = new int[rank];
                for (int o = 0; o < y.Length; o++)
                {
                    for (int i = rank - 1, rest = o; i >= 0; i--) { index[i] = rest % outDims[i]; rest /= outDims[i]; }
                    int src = 0;
                    for (int a = 0; a < rank; a++) src = src * dims[a] + index[Array.IndexOf(axes, a)];
                    y[o] = v[0][src];
                }
                return y;
            });
        });

    [Test]
    public void MaxUnpoolPlacesValuesAtPoolingIndices()
    {
        using var scope = Scope.Begin();
        var be = GradCheck.Backend;
        var x = Tensor.FromArray(be, [1, 5, 3, 2, 0, 4, 7, 8, 6, 9, 1, 1, 2, 3, 4, 0], new Shape(1, 1, 4, 4));
        var pool = new MaxPool2d(2);
        var (pooled, indices) = pool.ForwardWithIndices(x);
        Assert.That(pooled.ToArray(), Is.EqualTo(new float[] { 5, 8, 9, 4 }));
        Assert.That(indices.ToArray(), Is.EqualTo(new float[] { 1, 7, 9, 14 }));
        var unpooled = new MaxUnpool2d(2).Forward(pooled, indices);
        Assert.That(unpooled.ToArray(), Is.EqualTo(new float[] { 0, 5, 0, 0, 0, 0, 0, 8, 0, 9, 0, 0, 0, 0, 4, 0 }));
        GradCheck.Check(new Random(1), [(pooled.ToArray(), pooled.Shape)], t => Ops.MaxUnpool2d(t[0], indices, 4, 4),
            v => [0, v[0][0], 0, 0, 0, 0, 0, v[0][1], 0, v[0][2], 0, 0, 0, 0, v[0][3], 0]);
    }

    [Test]
    public void LPPoolIsThePNormOfEachWindow() =>
        GradCheck.ForAllSeeds(8, seed =>
        {
            var rng = new Random(seed);
            int h = rng.Next(2, 6), w = rng.Next(2, 6);
            var shape = new Shape(1, 1, h, w);
            var layer = new LPPool2d(3f, 2);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size, 0.2, 2), shape)], t => layer.Forward(t[0]), v =>
            {
                var y = new List<double>();
                for (int i = 0; i + 2 <= h; i += 2)
                    for (int j = 0; j + 2 <= w; j += 2)
                    {
                        double s = 0;
                        for (int a = 0; a < 2; a++) for (int b = 0; b < 2; b++) s += Math.Pow(v[0][(i + a) * w + j + b], 3);
                        y.Add(Math.Pow(s, 1.0 / 3));
                    }
                return y.ToArray();
            });
        });

    [Test]
    public void Conv1dMatchesDirectDefinition() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int n = rng.Next(1, 3), c = rng.Next(1, 4), k = rng.Next(1, 4), l = rng.Next(3, 9), kernel = rng.Next(1, 4), stride = rng.Next(1, 3), pad = rng.Next(0, 2);
            var layer = new Conv1d(c, k, kernel, stride, pad);
            layer.To(GradCheck.Backend);
            var shape = new Shape(n, c, l);
            int ol = (l + 2 * pad - kernel) / stride + 1;
            var wv = layer.Weight.ToArray();
            var bv = layer.Bias!.ToArray();
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)], t => layer.Forward(t[0]), v =>
            {
                var y = new double[n * k * ol];
                for (int b = 0; b < n; b++)
                    for (int o = 0; o < k; o++)
                        for (int p = 0; p < ol; p++)
                        {
                            double s = bv[o];
                            for (int ci = 0; ci < c; ci++)
                                for (int q = 0; q < kernel; q++)
                                {
                                    int at = p * stride - pad + q;
                                    if (at >= 0 && at < l) s += v[0][(b * c + ci) * l + at] * wv[(o * c + ci) * kernel + q];
                                }
                            y[(b * k + o) * ol + p] = s;
                        }
                return y;
            });
        });
}
