using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// ResNet (He et al. 2015) for ImageNet in torchvision's layout (v1.5: the stride sits on the 3x3 convolution of a
/// bottleneck). 18/34 use basic blocks, 50/101/152 bottlenecks.
/// </summary>
public sealed class ResNet : Module
{
    private static readonly Dictionary<int, (bool Bottleneck, int[] Blocks)> Configs = new()
    {
        [18] = (false, [2, 2, 2, 2]),
        [34] = (false, [3, 4, 6, 3]),
        [50] = (true, [3, 4, 6, 3]),
        [101] = (true, [3, 4, 23, 3]),
        [152] = (true, [3, 8, 36, 3]),
    };

    public ResNet(int depth, int numClasses = 1000, int inChannels = 3)
    {
        if (!Configs.TryGetValue(depth, out var config))
            throw new ArgumentException($"ResNet: expected depth 18, 34, 50, 101 or 152, got {depth}");
        Depth = depth;
        int expansion = config.Bottleneck ? 4 : 1;
        Conv1 = AddModule("conv1", new Conv2d(inChannels, 64, 7, 2, 3, bias: false));
        Bn1 = AddModule("bn1", new BatchNorm2d(64));
        MaxPool = AddModule("maxpool", new MaxPool2d(3, 2, 1));
        int inplanes = 64;
        var layers = new List<Sequential>();
        for (int stage = 0; stage < 4; stage++)
        {
            int planes = 64 << stage, stride = stage == 0 ? 1 : 2;
            var layer = new Sequential();
            for (int b = 0; b < config.Blocks[stage]; b++)
            {
                int s = b == 0 ? stride : 1;
                bool project = b == 0 && (s != 1 || inplanes != planes * expansion);
                layer.Append(config.Bottleneck ? new Bottleneck(inplanes, planes, s, project) : new BasicBlock(inplanes, planes, s, project));
                inplanes = planes * expansion;
            }
            layers.Add(AddModule($"layer{stage + 1}", layer));
        }
        Layers = layers;
        Pool = AddModule("avgpool", new AdaptiveAvgPool2d(1));
        Fc = AddModule("fc", new Linear(512 * expansion, numClasses));
    }

    public int Depth { get; }
    public override string TypeName => "ResNet";
    private Conv2d Conv1 { get; }
    private BatchNorm2d Bn1 { get; }
    private MaxPool2d MaxPool { get; }
    public IReadOnlyList<Sequential> Layers { get; }
    private AdaptiveAvgPool2d Pool { get; }
    public Linear Fc { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        x = MaxPool.Forward(Ops.Relu(Bn1.Forward(Conv1.Forward(x))));
        // by index: foreach over the IReadOnlyList would box its enumerator (40 bytes a step)
        for (int i = 0; i < Layers.Count; i++) x = Layers[i].Forward(x);
        return Fc.Forward(Ops.Flatten(Pool.Forward(x)));
    }
}

/// <summary>Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut.</summary>
public sealed class BasicBlock : Module
{
    public BasicBlock(int inplanes, int planes, int stride, bool project)
    {
        Conv1 = AddModule("conv1", new Conv2d(inplanes, planes, 3, stride, 1, bias: false));
        Bn1 = AddModule("bn1", new BatchNorm2d(planes));
        Conv2 = AddModule("conv2", new Conv2d(planes, planes, 3, 1, 1, bias: false));
        Bn2 = AddModule("bn2", new BatchNorm2d(planes));
        if (project)
            Downsample = AddModule("downsample", new Sequential(new Conv2d(inplanes, planes, 1, stride, bias: false), new BatchNorm2d(planes)));
    }

    private Conv2d Conv1 { get; }
    private BatchNorm2d Bn1 { get; }
    private Conv2d Conv2 { get; }
    private BatchNorm2d Bn2 { get; }
    private Sequential? Downsample { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var y = Bn2.Forward(Conv2.Forward(Ops.Relu(Bn1.Forward(Conv1.Forward(x)))));
        return Ops.Relu(Ops.Add(y, Downsample?.Forward(x) ?? x));
    }
}

/// <summary>1x1 reduce, 3x3 (strided), 1x1 expand by 4, each with batch norm; identity or projection shortcut.</summary>
public sealed class Bottleneck : Module
{
    public Bottleneck(int inplanes, int planes, int stride, bool project)
    {
        Conv1 = AddModule("conv1", new Conv2d(inplanes, planes, 1, bias: false));
        Bn1 = AddModule("bn1", new BatchNorm2d(planes));
        Conv2 = AddModule("conv2", new Conv2d(planes, planes, 3, stride, 1, bias: false));
        Bn2 = AddModule("bn2", new BatchNorm2d(planes));
        Conv3 = AddModule("conv3", new Conv2d(planes, planes * 4, 1, bias: false));
        Bn3 = AddModule("bn3", new BatchNorm2d(planes * 4));
        if (project)
            Downsample = AddModule("downsample", new Sequential(new Conv2d(inplanes, planes * 4, 1, stride, bias: false), new BatchNorm2d(planes * 4)));
    }

    private Conv2d Conv1 { get; }
    private BatchNorm2d Bn1 { get; }
    private Conv2d Conv2 { get; }
    private BatchNorm2d Bn2 { get; }
    private Conv2d Conv3 { get; }
    private BatchNorm2d Bn3 { get; }
    private Sequential? Downsample { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var y = Ops.Relu(Bn1.Forward(Conv1.Forward(x)));
        y = Ops.Relu(Bn2.Forward(Conv2.Forward(y)));
        y = Bn3.Forward(Conv3.Forward(y));
        return Ops.Relu(Ops.Add(y, Downsample?.Forward(x) ?? x));
    }
}

/// <summary>
/// The CIFAR-10 ResNets of the ResNet paper (section 4.2): 3x3 conv to 16 channels, three stages of n basic blocks
/// at 16/32/64 channels (depth = 6n + 2), identity shortcuts that subsample by 2 and pad the new channels with zeros
/// (option A), global average pooling and a linear classifier.
/// </summary>
public sealed class CifarResNet : Module
{
    public CifarResNet(int depth, int numClasses = 10, int inChannels = 3)
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentException($"CIFAR ResNet: expected depth 6n+2 (20, 32, 44, 56, 110, 1202, ...), got {depth}");
        Depth = depth;
        int n = (depth - 2) / 6;
        Conv1 = AddModule("conv1", new Conv2d(inChannels, 16, 3, 1, 1, bias: false));
        Bn1 = AddModule("bn1", new BatchNorm2d(16));
        int inplanes = 16;
        var layers = new List<Sequential>();
        for (int stage = 0; stage < 3; stage++)
        {
            int planes = 16 << stage;
            var layer = new Sequential();
            for (int b = 0; b < n; b++)
            {
                int stride = b == 0 && stage > 0 ? 2 : 1;
                layer.Append(new CifarBlock(inplanes, planes, stride));
                inplanes = planes;
            }
            layers.Add(AddModule($"layer{stage + 1}", layer));
        }
        Layers = layers;
        Fc = AddModule("fc", new Linear(64, numClasses));
    }

    public int Depth { get; }
    public override string TypeName => "CifarResNet";
    private Conv2d Conv1 { get; }
    private BatchNorm2d Bn1 { get; }
    public IReadOnlyList<Sequential> Layers { get; }
    public Linear Fc { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        x = Ops.Relu(Bn1.Forward(Conv1.Forward(x)));
        for (int i = 0; i < Layers.Count; i++) x = Layers[i].Forward(x);
        return Fc.Forward(Ops.Flatten(Ops.AvgPool2d(x, Pool2dGeometry.Adaptive(x.Shape, 1), Describe())));
    }
}

/// <summary>A basic block whose shortcut, when the shape changes, subsamples x[:, :, ::2, ::2] and zero-pads channels.</summary>
public sealed class CifarBlock : Module
{
    private readonly int _stride, _padChannels;

    public CifarBlock(int inplanes, int planes, int stride)
    {
        _stride = stride;
        _padChannels = (planes - inplanes) / 2;
        Conv1 = AddModule("conv1", new Conv2d(inplanes, planes, 3, stride, 1, bias: false));
        Bn1 = AddModule("bn1", new BatchNorm2d(planes));
        Conv2 = AddModule("conv2", new Conv2d(planes, planes, 3, 1, 1, bias: false));
        Bn2 = AddModule("bn2", new BatchNorm2d(planes));
    }

    private Conv2d Conv1 { get; }
    private BatchNorm2d Bn1 { get; }
    private Conv2d Conv2 { get; }
    private BatchNorm2d Bn2 { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var y = Bn2.Forward(Conv2.Forward(Ops.Relu(Bn1.Forward(Conv1.Forward(x)))));
        var shortcut = x;
        if (_stride != 1)
            shortcut = Ops.AvgPool2d(shortcut, Ops.PoolGeometry(shortcut.Shape, 1, _stride), Describe()); // x[:, :, ::s, ::s]
        if (_padChannels > 0)
        {
            var zeros = Tensor.Zeros(x.Backend, shortcut.Shape.With(1, _padChannels));
            shortcut = Ops.Concat([zeros, shortcut, zeros], 1);
        }
        return Ops.Relu(Ops.Add(y, shortcut));
    }
}
