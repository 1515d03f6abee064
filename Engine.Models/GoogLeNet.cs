using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// GoogLeNet / Inception v1 (Szegedy et al. 2014) in torchvision's layout: 6,624,904 parameters at 1000 classes
/// without the auxiliary heads. The auxiliary classifiers (after inception4a and 4d) are optional and only run in
/// training through <see cref="ForwardWithAux"/>.
/// </summary>
public sealed class GoogLeNet : Module
{
    private readonly List<Module> _stem = [], _body = [];

    public GoogLeNet(int numClasses = 1000, int inChannels = 3, bool auxLogits = false, float dropout = 0.2f, float auxDropout = 0.7f)
    {
        _stem.Add(AddModule("conv1", new BasicConv2d(inChannels, 64, 7, 2, 3)));
        _stem.Add(AddModule("maxpool1", new MaxPool2d(3, 2, ceilMode: true)));
        _stem.Add(AddModule("conv2", new BasicConv2d(64, 64, 1)));
        _stem.Add(AddModule("conv3", new BasicConv2d(64, 192, 3, padding: 1)));
        _stem.Add(AddModule("maxpool2", new MaxPool2d(3, 2, ceilMode: true)));
        _stem.Add(AddModule("inception3a", new Inception(192, 64, 96, 128, 16, 32, 32)));
        _stem.Add(AddModule("inception3b", new Inception(256, 128, 128, 192, 32, 96, 64)));
        _stem.Add(AddModule("maxpool3", new MaxPool2d(3, 2, ceilMode: true)));
        Inception4a = AddModule("inception4a", new Inception(480, 192, 96, 208, 16, 48, 64));
        Inception4b = AddModule("inception4b", new Inception(512, 160, 112, 224, 24, 64, 64));
        Inception4c = AddModule("inception4c", new Inception(512, 128, 128, 256, 24, 64, 64));
        Inception4d = AddModule("inception4d", new Inception(512, 112, 144, 288, 32, 64, 64));
        _body.Add(AddModule("inception4e", new Inception(528, 256, 160, 320, 32, 128, 128)));
        _body.Add(AddModule("maxpool4", new MaxPool2d(2, 2, ceilMode: true)));
        _body.Add(AddModule("inception5a", new Inception(832, 256, 160, 320, 32, 128, 128)));
        _body.Add(AddModule("inception5b", new Inception(832, 384, 192, 384, 48, 128, 128)));
        if (auxLogits)
        {
            Aux1 = AddModule("aux1", new InceptionAux(512, numClasses, auxDropout));
            Aux2 = AddModule("aux2", new InceptionAux(528, numClasses, auxDropout));
        }
        _body.Add(AddModule("avgpool", new AdaptiveAvgPool2d(1)));
        Dropout = AddModule("dropout", new Dropout(dropout));
        Fc = AddModule("fc", new Linear(1024, numClasses));
    }

    public override string TypeName => "GoogLeNet";
    private Inception Inception4a { get; }
    private Inception Inception4b { get; }
    private Inception Inception4c { get; }
    private Inception Inception4d { get; }
    public InceptionAux? Aux1 { get; }
    public InceptionAux? Aux2 { get; }
    private Dropout Dropout { get; }
    private Linear Fc { get; }

    protected override Tensor ForwardCore(Tensor x) => ForwardWithAux(x).Logits;

    /// <summary>The logits, and in training with auxiliary heads their logits too.</summary>
    public (Tensor Logits, Tensor? Aux1, Tensor? Aux2) ForwardWithAux(Tensor x)
    {
        foreach (var m in _stem) x = m.Forward(x);
        x = Inception4a.Forward(x);
        var aux1 = Training && Aux1 is not null ? Aux1.Forward(x) : null;
        x = Inception4d.Forward(Inception4c.Forward(Inception4b.Forward(x)));
        var aux2 = Training && Aux2 is not null ? Aux2.Forward(x) : null;
        foreach (var m in _body) x = m.Forward(x);
        return (Fc.Forward(Dropout.Forward(Ops.Flatten(x))), aux1, aux2);
    }
}

/// <summary>Four parallel branches (1x1; 1x1-3x3; 1x1-3x3 as torchvision has it; pool-1x1) joined along channels.</summary>
public sealed class Inception : Module
{
    private readonly Module[] _branches;

    public Inception(int inChannels, int ch1x1, int ch3x3Reduce, int ch3x3, int ch5x5Reduce, int ch5x5, int poolProjection)
    {
        _branches =
        [
            AddModule("branch1", new BasicConv2d(inChannels, ch1x1, 1)),
            AddModule("branch2", new Sequential(new BasicConv2d(inChannels, ch3x3Reduce, 1), new BasicConv2d(ch3x3Reduce, ch3x3, 3, padding: 1))),
            AddModule("branch3", new Sequential(new BasicConv2d(inChannels, ch5x5Reduce, 1), new BasicConv2d(ch5x5Reduce, ch5x5, 3, padding: 1))),
            AddModule("branch4", new Sequential(new MaxPool2d(3, 1, 1, ceilMode: true), new BasicConv2d(inChannels, poolProjection, 1))),
        ];
    }

    protected override Tensor ForwardCore(Tensor x) =>
        Ops.Concat([_branches[0].Forward(x), _branches[1].Forward(x), _branches[2].Forward(x), _branches[3].Forward(x)], 1);
}

/// <summary>Auxiliary classifier: adaptive average pool to 4x4, 1x1 conv to 128, fc 2048-1024, dropout, fc to classes.</summary>
public sealed class InceptionAux : Module
{
    public InceptionAux(int inChannels, int numClasses, float dropout)
    {
        Conv = AddModule("conv", new BasicConv2d(inChannels, 128, 1));
        Fc1 = AddModule("fc1", new Linear(2048, 1024));
        Fc2 = AddModule("fc2", new Linear(1024, numClasses));
        DropoutLayer = new Dropout(dropout);
    }

    private BasicConv2d Conv { get; }
    private Linear Fc1 { get; }
    private Linear Fc2 { get; }
    private Dropout DropoutLayer { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        var pooled = Ops.AvgPool2d(x, Pool2dGeometry.Adaptive(x.Shape, 4), Describe());
        var hidden = Ops.Relu(Fc1.Forward(Ops.Flatten(Conv.Forward(pooled))));
        return Fc2.Forward(Ops.Dropout(hidden, DropoutLayer.P, Training));
    }
}
