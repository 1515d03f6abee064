namespace Engine.Nn;

/// <summary>
/// Batch normalization over the channel axis (PyTorch's _BatchNorm): weight (C) = 1, bias (C) = 0, buffers
/// running_mean (C) = 0, running_var (C) = 1 and num_batches_tracked; batch statistics in training, running ones in eval.
/// </summary>
public abstract class BatchNormBase : Module
{
    private readonly int _rank;

    protected BatchNormBase(int numFeatures, float eps, float momentum, bool affine, bool trackRunningStats, int rank)
    {
        if (numFeatures <= 0) throw new ArgumentException($"{TypeName}: expected a positive feature count, got {numFeatures}");
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        _rank = rank;
        if (affine)
        {
            Weight = AddParameter("weight", new Shape(numFeatures), Init.Constant(numFeatures, 1f));
            Bias = AddParameter("bias", new Shape(numFeatures), Init.Constant(numFeatures, 0f));
        }
        if (trackRunningStats)
        {
            RunningMean = AddBuffer("running_mean", new Shape(numFeatures), Init.Constant(numFeatures, 0f));
            RunningVar = AddBuffer("running_var", new Shape(numFeatures), Init.Constant(numFeatures, 1f));
            BatchesTracked = AddBuffer("num_batches_tracked", new Shape(), [0f]);
        }
    }

    public int NumFeatures { get; }
    public float Eps { get; }
    public float Momentum { get; }
    public Parameter? Weight { get; }
    public Parameter? Bias { get; }
    public Parameter? RunningMean { get; }
    public Parameter? RunningVar { get; }
    public Parameter? BatchesTracked { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if ((x.Rank != _rank && !(_rank == 3 && x.Rank == 2)) || x.Shape.Channels != NumFeatures)
            throw new ArgumentException($"{Describe()}: expected input with {NumFeatures} channels {ExpectedShape}, got {x.Shape}");
        if (Training && BatchesTracked is not null)
        {
            var t = BatchesTracked.Value;
            t.Backend.Unary(UnaryOp.AddScalar, 1f, t.Buffer, t.Buffer, 1);
        }
        return Ops.BatchNorm(x, RunningMean?.Value, RunningVar?.Value, Weight?.Value, Bias?.Value, Training, Momentum, Eps, Describe());
    }

    private string ExpectedShape => _rank == 4 ? $"(N,{NumFeatures},H,W)" : $"(N,{NumFeatures}) or (N,{NumFeatures},L)";
}

/// <summary>Batch normalization of (N,C) or (N,C,L).</summary>
public sealed class BatchNorm1d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
    : BatchNormBase(numFeatures, eps, momentum, affine, trackRunningStats, 3);

/// <summary>Batch normalization of (N,C,H,W).</summary>
public sealed class BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true, bool trackRunningStats = true)
    : BatchNormBase(numFeatures, eps, momentum, affine, trackRunningStats, 4);

/// <summary>Layer normalization over the trailing axes given by <c>normalizedShape</c>.</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(int[] normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true)
    {
        NormalizedShape = new Shape(normalizedShape);
        Eps = eps;
        if (elementwiseAffine)
        {
            Weight = AddParameter("weight", NormalizedShape, Init.Constant(NormalizedShape.Size, 1f));
            Bias = AddParameter("bias", NormalizedShape, Init.Constant(NormalizedShape.Size, 0f));
        }
    }

    public LayerNorm(int features, float eps = 1e-5f, bool elementwiseAffine = true) : this([features], eps, elementwiseAffine) { }

    public Shape NormalizedShape { get; }
    public float Eps { get; }
    public Parameter? Weight { get; }
    public Parameter? Bias { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        int k = NormalizedShape.Rank;
        bool matches = x.Rank >= k;
        for (int i = 0; matches && i < k; i++) matches = x.Shape[x.Rank - k + i] == NormalizedShape[i];
        if (!matches) throw new ArgumentException($"{Describe()}: expected input ending in {NormalizedShape}, got {x.Shape}");
        return Ops.LayerNorm(x, k, Weight?.Value, Bias?.Value, Eps, Describe());
    }
}

/// <summary>Layer normalization over the channels of (N,C,H,W) only (torchvision's LayerNorm2d in ConvNeXt).</summary>
public sealed class LayerNorm2d : Module
{
    public LayerNorm2d(int channels, float eps = 1e-6f)
    {
        Channels = channels;
        Eps = eps;
        Weight = AddParameter("weight", new Shape(channels), Init.Constant(channels, 1f));
        Bias = AddParameter("bias", new Shape(channels), Init.Constant(channels, 0f));
    }

    public int Channels { get; }
    public float Eps { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4 || x.Shape.Channels != Channels)
            throw new ArgumentException($"{Describe()}: expected input with {Channels} channels (N,{Channels},H,W), got {x.Shape}");
        return Ops.LayerNormChannels(x, Weight.Value, Bias.Value, Eps, Describe());
    }
}

public sealed class GroupNorm : Module
{
    public GroupNorm(int numGroups, int numChannels, float eps = 1e-5f, bool affine = true)
    {
        if (numGroups <= 0 || numChannels % numGroups != 0)
            throw new ArgumentException($"GroupNorm: channels ({numChannels}) must be divisible by groups ({numGroups})");
        Groups = numGroups;
        Channels = numChannels;
        Eps = eps;
        if (affine)
        {
            Weight = AddParameter("weight", new Shape(numChannels), Init.Constant(numChannels, 1f));
            Bias = AddParameter("bias", new Shape(numChannels), Init.Constant(numChannels, 0f));
        }
    }

    public int Groups { get; }
    public int Channels { get; }
    public float Eps { get; }
    public Parameter? Weight { get; }
    public Parameter? Bias { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank < 2 || x.Shape.Channels != Channels)
            throw new ArgumentException($"{Describe()}: expected input with {Channels} channels (N,{Channels},...), got {x.Shape}");
        return Ops.GroupNorm(x, Groups, Weight?.Value, Bias?.Value, Eps, Describe());
    }
}

public sealed class LocalResponseNorm(int size, float alpha = 1e-4f, float beta = 0.75f, float k = 1f) : Module
{
    public int Size { get; } = size;
    public float Alpha { get; } = alpha;
    public float Beta { get; } = beta;
    public float K { get; } = k;
    protected override Tensor ForwardCore(Tensor x) => Ops.LocalResponseNorm(x, Size, Alpha, Beta, K, Describe());
}
