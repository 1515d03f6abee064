namespace Engine;

public static partial class Ops
{
    /// <summary>
    /// Batch normalization over every axis but 1 (channels) of (N,C), (N,C,L) or (N,C,H,W), with the affine weight
    /// folded into the per-channel factor; training is one autograd node (<see cref="BatchNormTraining"/>). Training:
    /// y = (x - mean) / sqrt(var + eps) * weight + bias with the batch's biased variance, and the running statistics
    /// move by momentum (running_var takes the unbiased variance, as in PyTorch). Eval: the running statistics are used.
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor? runningMean, Tensor? runningVar, Tensor? weight, Tensor? bias,
        bool training, float momentum = 0.1f, float eps = 1e-5f, string where = "BatchNorm")
    {
        if (x.Rank < 2 || x.Rank > 5)
            throw new ArgumentException($"{where}: expected an input (N,C,...) of rank 2 to 5, got {x.Shape}");
        int c = x.Shape.Channels;
        Span<int> dims = stackalloc int[x.Rank];
        dims.Fill(1);
        dims[1] = c;
        var statShape = new Shape(dims);
        CheckChannels(runningMean, c, x, where);
        CheckChannels(runningVar, c, x, where);
        CheckChannels(weight, c, x, where);
        CheckChannels(bias, c, x, where);
        if (training || runningMean is null || runningVar is null)
        {
            int count = x.Length / c;
            if (count <= 1 && training)
                throw new ArgumentException($"{where}: expected more than 1 value per channel when training, got input {x.Shape}");
            var (y, mean, variance) = BatchNormTraining(x, weight, bias, statShape, eps);
            if (training && runningMean is not null && runningVar is not null)
            {
                using var _ = Autograd.NoGrad();
                var be = x.Backend;
                float unbias = count / (float)Math.Max(count - 1, 1);
                Blend(be, runningMean, Reshape(mean, runningMean.Shape), momentum, 1f);
                Blend(be, runningVar, Reshape(variance, runningVar.Shape), momentum, unbias);
            }
            return y;
        }
        // eval, folded as PyTorch folds it: y = x * scale + shift, scale = weight / sqrt(running_var + eps) and
        // shift = bias - running_mean * scale per channel, so the full-size tensor is read twice
        var scale = ChannelScale(Reshape(runningVar, statShape), weight, statShape, eps);
        var meanScaled = Multiply(Reshape(runningMean, statShape), scale);
        var shift = bias is null ? Scale(meanScaled, -1f) : Subtract(Reshape(bias, statShape), meanScaled);
        return Add(Multiply(x, scale), shift);
    }

    private static void CheckChannels(Tensor? t, int c, Tensor x, string where)
    {
        if (t is not null && t.Length != c)
            throw new ArgumentException($"{where}: expected {c} channels (N,{c},...), got input {x.Shape} for parameters of shape {t.Shape}");
    }

    /// <summary>
    /// Batch statistics normalization as one autograd node over x viewed as N x C x I (M = N*I values per channel):
    /// mean and biased variance from <see cref="IBackend.ChannelStatistics"/>, invStd = 1 / sqrt(var + eps),
    /// scale = weight * invStd, y = (x - mean) * scale + bias in one <see cref="IBackend.ChannelAffine"/> pass.
    /// Backward, with dBias = sum(dY) and dot = sum(dY * (x - mean)) per channel from one
    /// <see cref="IBackend.ChannelGradientSums"/> pass: dWeight = dot * invStd and
    /// dX = scale * (dY - dBias / M - (x - mean) * dot * invStd^2 / M)
    ///    = (x - mean) * (-scale * k) + (dY * scale + (-scale * dBias / M)),  k = dot * invStd^2 / M,
    /// one more pass. Returns y and the batch mean and biased variance in statShape.
    /// </summary>
    private static (Tensor Y, Tensor Mean, Tensor Variance) BatchNormTraining(Tensor x, Tensor? weight, Tensor? bias, Shape statShape, float eps)
    {
        var be = x.Backend;
        var g = ChannelGeometry.Of(x.Shape);
        Tensor mean, variance, invStd, scale, y;
        using (Autograd.NoGrad())
        {
            mean = Tensor.Empty(be, statShape);
            variance = Tensor.Empty(be, statShape);
            be.ChannelStatistics(g, x.Buffer, mean.Buffer, variance.Buffer);
            invStd = Rsqrt(AddScalar(variance, eps));
            scale = weight is null ? invStd : Multiply(invStd, Reshape(weight, statShape));
            var shift = bias is null ? Tensor.Zeros(be, statShape) : Reshape(bias, statShape);
            y = Tensor.Empty(be, x.Shape);
            be.ChannelAffine(g, x.Buffer, mean.Buffer, scale.Buffer, null, null, shift.Buffer, y.Buffer);
        }
        bool needs = Autograd.IsEnabled && (x.TracksGrad || weight is { TracksGrad: true } || bias is { TracksGrad: true });
        if (!needs) return (y, mean, variance);
        Autograd.Record("BatchNorm", y, new BatchNormBackward(x, weight, bias, mean, invStd, scale), x, weight, bias);
        return (y, mean, variance);
    }

    /// <summary>The backward of <see cref="BatchNormTraining"/> (its formulas), from the saved mean, invStd and scale.</summary>
    private readonly struct BatchNormBackward(Tensor x, Tensor? weight, Tensor? bias, Tensor mean, Tensor invStd, Tensor scale) : IBackward
    {
        public void Backward(Tensor dY)
        {
            var be = x.Backend;
            var g = ChannelGeometry.Of(x.Shape);
            var statShape = mean.Shape;
            float inverseCount = 1f / g.Count;
            var dBias = Tensor.Empty(be, statShape);
            var dot = Tensor.Empty(be, statShape);
            be.ChannelGradientSums(g, x.Buffer, dY.Buffer, mean.Buffer, dBias.Buffer, dot.Buffer);
            if (weight is not null) Autograd.Accumulate(weight, Reshape(Multiply(dot, invStd), weight.Shape));
            if (bias is not null) Autograd.Accumulate(bias, Reshape(dBias, bias.Shape));
            if (!x.TracksGrad) return;
            var k = Scale(Multiply(dot, Square(invStd)), inverseCount);
            var centeredScale = Scale(Multiply(scale, k), -1f);
            var shift = Scale(Multiply(scale, dBias), -inverseCount);
            var dX = Tensor.Empty(be, x.Shape);
            be.ChannelAffine(g, x.Buffer, mean.Buffer, centeredScale.Buffer, dY.Buffer, scale.Buffer, shift.Buffer, dX.Buffer);
            Autograd.Accumulate(x, dX);
        }
    }

    /// <summary>weight / sqrt(variance + eps) per channel (1 / sqrt(variance + eps) without a weight), in statShape.</summary>
    private static Tensor ChannelScale(Tensor variance, Tensor? weight, Shape statShape, float eps)
    {
        var inverse = Rsqrt(AddScalar(variance, eps));
        return weight is null ? inverse : Multiply(inverse, Reshape(weight, statShape));
    }

    /// <summary>running = (1 - momentum) * running + momentum * scale * batch, in place.</summary>
    private static void Blend(IBackend be, Tensor running, Tensor batch, float momentum, float scale)
    {
        var update = Scale(batch, momentum * scale);
        be.Unary(UnaryOp.Scale, 1f - momentum, running.Buffer, running.Buffer, running.Length);
        be.Binary(BinaryOp.Add, running.Buffer, running.Shape, update.Buffer, update.Shape, running.Buffer, running.Shape);
    }

    /// <summary>(x - mean) / sqrt(var + eps) with mean and biased variance over the axes statShape reduces.</summary>
    private static (Tensor XHat, Tensor Mean, Tensor Variance) Standardize(Tensor x, Shape statShape, float eps)
    {
        float inverseCount = statShape.Size / (float)x.Length;
        var mean = Scale(SumTo(x, statShape), inverseCount);
        var centered = Subtract(x, mean);
        var variance = Scale(SumTo(Square(centered), statShape), inverseCount);
        return (Multiply(centered, Rsqrt(AddScalar(variance, eps))), mean, variance);
    }

    /// <summary>y = x * weight + bias with both viewed in <paramref name="shape"/> (either may be absent).</summary>
    private static Tensor Affine(Tensor x, Tensor? weight, Tensor? bias, Shape shape)
    {
        if (weight is not null) x = Multiply(x, Reshape(weight, shape));
        if (bias is not null) x = Add(x, Reshape(bias, shape));
        return x;
    }

    /// <summary>Layer normalization over the last <paramref name="normalizedAxes"/> axes, with elementwise affine parameters of that shape.</summary>
    public static Tensor LayerNorm(Tensor x, int normalizedAxes, Tensor? weight, Tensor? bias, float eps = 1e-5f, string where = "LayerNorm")
    {
        if (normalizedAxes < 1 || normalizedAxes > x.Rank)
            throw new ArgumentException($"{where}: cannot normalize the last {normalizedAxes} axes of {x.Shape}");
        int keep = x.Rank - normalizedAxes;
        Span<int> stat = stackalloc int[x.Rank];
        Span<int> param = stackalloc int[x.Rank];
        for (int i = 0; i < x.Rank; i++)
        {
            stat[i] = i < keep ? x.Shape[i] : 1;
            param[i] = i < keep ? 1 : x.Shape[i];
        }
        var paramShape = new Shape(param);
        foreach (var t in new[] { weight, bias })
            if (t is not null && t.Length != paramShape.Size)
                throw new ArgumentException($"{where}: expected parameters for the last {normalizedAxes} axes of {x.Shape}, got {t.Shape}");
        return Affine(Standardize(x, new Shape(stat), eps).XHat, weight, bias, paramShape);
    }

    /// <summary>Layer normalization over the channel axis only of (N,C,H,W) (ConvNeXt's channels-first form).</summary>
    public static Tensor LayerNormChannels(Tensor x, Tensor? weight, Tensor? bias, float eps = 1e-6f, string where = "LayerNorm2d")
    {
        if (x.Rank != 4) throw new ArgumentException($"{where}: expected an input (N,C,H,W), got {x.Shape}");
        var xHat = Standardize(x, new Shape(x.Shape.Batch, 1, x.Shape.Height, x.Shape.Width), eps).XHat;
        return Affine(xHat, weight, bias, new Shape(1, x.Shape.Channels, 1, 1));
    }

    /// <summary>Group normalization: channels split into groups, each normalized over its channels and pixels.</summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps = 1e-5f, string where = "GroupNorm")
    {
        if (x.Rank < 2 || groups <= 0 || x.Shape.Channels % groups != 0)
            throw new ArgumentException($"{where}: expected (N,C,...) with C divisible by {groups} groups, got {x.Shape}");
        int n = x.Shape.Batch;
        var grouped = Reshape(x, new Shape(n, groups, x.Length / (n * groups)));
        var xHat = Reshape(Standardize(grouped, new Shape(n, groups, 1), eps).XHat, x.Shape);
        Span<int> dims = stackalloc int[x.Rank];
        dims.Fill(1);
        dims[1] = x.Shape.Channels;
        return Affine(xHat, weight, bias, new Shape(dims));
    }

    /// <summary>
    /// Local response normalization across channels (AlexNet): y = x / (k + alpha/size * sum over the size
    /// neighbouring channels of x^2)^beta, the window centred with the extra channel at the front for even sizes.
    /// </summary>
    public static Tensor LocalResponseNorm(Tensor x, int size, float alpha = 1e-4f, float beta = 0.75f, float k = 1f, string where = "LocalResponseNorm")
    {
        if (x.Rank != 4 || size <= 0) throw new ArgumentException($"{where}: expected an input (N,C,H,W) and a positive size, got {x.Shape} and {size}");
        int n = x.Shape.Batch, c = x.Shape.Channels, hw = x.Shape.Height * x.Shape.Width;
        var squares = Reshape(Square(x), new Shape(n, 1, c, hw));
        var padded = Pad2d(squares, new Padding2d(size / 2, 0, (size - 1) / 2, 0), where: where);
        var mean = AvgPool2d(padded, PoolGeometry(padded.Shape, new Size2(size, 1), new Size2(1, 1)), where);
        var denominator = Pow(AddScalar(Scale(Reshape(mean, x.Shape), alpha), k), beta);
        return Divide(x, denominator);
    }
}
