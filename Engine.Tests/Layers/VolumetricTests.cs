using NUnit.Framework;

namespace Engine.Tests.Layers;

/// <summary>3-D and 1-D layers (built on the 2-D machinery) against direct definitions.</summary>
public class VolumetricTests
{
    [Test]
    public void Conv3dMatchesDirectDefinition() =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int groups = rng.Next(1, 3), c = groups * rng.Next(1, 3), k = groups * rng.Next(1, 3), n = rng.Next(1, 3);
            int d = rng.Next(2, 5), h = rng.Next(2, 5), w = rng.Next(2, 5), kd = rng.Next(1, 3), kh = rng.Next(1, 3), kw = rng.Next(1, 3);
            int sd = rng.Next(1, 3), sh = rng.Next(1, 3), pd = rng.Next(0, 2), ph = rng.Next(0, 2), dd = rng.Next(1, 3);
            int spanD = d + 2 * pd - dd * (kd - 1) - 1, spanH = h + 2 * ph - (kh - 1) - 1, spanW = w - kw;
            if (spanD < 0 || spanH < 0 || spanW < 0) return; // the kernel does not fit: rejected (tested elsewhere)
            int od = spanD / sd + 1, oh = spanH / sh + 1, ow = spanW + 1;
            var xs = new Shape(n, c, d, h, w);
            var ws = new Shape(k, c / groups, kd, kh, kw);
            GradCheck.Check(rng, [(GradCheck.Random(rng, xs.Size), xs), (GradCheck.Random(rng, ws.Size), ws), (GradCheck.Random(rng, k), new Shape(k))],
                t => Ops.Conv3d(t[0], t[1], t[2], (sd, sh, 1), (pd, ph, 0), (dd, 1, 1), groups),
                v =>
                {
                    var y = new double[n * k * od * oh * ow];
                    int cg = c / groups, kg = k / groups;
                    for (int b = 0; b < n; b++)
                        for (int o = 0; o < k; o++)
                            for (int z = 0; z < od; z++)
                                for (int i = 0; i < oh; i++)
                                    for (int j = 0; j < ow; j++)
                                    {
                                        double s = v[2][o];
                                        for (int ci = 0; ci < cg; ci++)
                                            for (int a = 0; a < kd; a++)
                                                for (int r = 0; r < kh; r++)
                                                    for (int q = 0; q < kw; q++)
                                                    {
                                                        int zz = z * sd - pd + a * dd, ii = i * sh - ph + r, jj = j + q;
                                                        if (zz < 0 || zz >= d || ii < 0 || ii >= h) continue;
                                                        int ch = o / kg * cg + ci;
                                                        s += v[0][(((b * c + ch) * d + zz) * h + ii) * w + jj] * v[1][(((o * cg + ci) * kd + a) * kh + r) * kw + q];
                                                    }
                                        y[(((b * k + o) * od + z) * oh + i) * ow + j] = s;
                                    }
                    return y;
                });
        });

    [TestCase(true, true)]
    [TestCase(false, true)]
    [TestCase(false, false)]
    public void Pool3dMatchesBoxDefinition(bool max, bool countIncludePad) =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int d = rng.Next(2, 6), h = rng.Next(2, 6), w = rng.Next(2, 6), k = 2, s = rng.Next(1, 3), p = rng.Next(0, 2);
            var shape = new Shape(1, 2, d, h, w);
            int O(int size) => (size + 2 * p - k) / s + 1;
            int od = O(d), oh = O(h), ow = O(w);
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)],
                t => Ops.Pool3d(t[0], max, k, s, p, 1, countIncludePad: countIncludePad),
                v =>
                {
                    var y = new List<double>();
                    for (int c = 0; c < 2; c++)
                        for (int z = 0; z < od; z++)
                            for (int i = 0; i < oh; i++)
                                for (int j = 0; j < ow; j++)
                                {
                                    double best = double.NegativeInfinity, sum = 0;
                                    int inside = 0;
                                    for (int a = 0; a < k; a++)
                                        for (int b = 0; b < k; b++)
                                            for (int e = 0; e < k; e++)
                                            {
                                                int zz = z * s - p + a, ii = i * s - p + b, jj = j * s - p + e;
                                                if (zz < 0 || zz >= d || ii < 0 || ii >= h || jj < 0 || jj >= w) continue;
                                                double val = v[0][((c * d + zz) * h + ii) * w + jj];
                                                best = Math.Max(best, val);
                                                sum += val;
                                                inside++;
                                            }
                                    y.Add(max ? best : sum / (countIncludePad ? k * k * k : inside));
                                }
                    return y.ToArray();
                });
        });

    [TestCase(true)]
    [TestCase(false)]
    public void Pool1dMatchesDefinition(bool max) =>
        GradCheck.ForAllSeeds(10, seed =>
        {
            var rng = new Random(seed);
            int l = rng.Next(3, 12), k = rng.Next(1, 4), s = rng.Next(1, 3);
            var shape = new Shape(2, 3, l);
            int ol = (l - k) / s + 1;
            GradCheck.Check(rng, [(GradCheck.Random(rng, shape.Size), shape)], t => Ops.Pool1d(t[0], max, k, s, 0), v =>
            {
                var y = new List<double>();
                for (int row = 0; row < 6; row++)
                    for (int o = 0; o < ol; o++)
                    {
                        var window = Enumerable.Range(o * s, k).Select(i => v[0][row * l + i]).ToArray();
                        y.Add(max ? window.Max() : window.Average());
                    }
                return y.ToArray();
            });
        });
}
