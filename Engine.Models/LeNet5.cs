using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// LeNet-5 in its common modern form (61,706 parameters for 1 x 28 x 28 input and 10 classes):
/// conv 1->6 5x5 pad 2, ReLU, max-pool 2; conv 6->16 5x5, ReLU, max-pool 2; linear 400->120->84->classes with ReLU.
/// Parameter names follow a torch nn.Sequential pair: features.{0,3}, classifier.{0,2,4}.
/// </summary>
public sealed class LeNet5 : Module
{
    public LeNet5(int numClasses = 10, int inChannels = 1, Generator? generator = null)
    {
        Features = AddModule("features", new Sequential(
            new Conv2d(inChannels, 6, 5, padding: 2, generator: generator),
            new ReLU(),
            new MaxPool2d(2),
            new Conv2d(6, 16, 5, generator: generator),
            new ReLU(),
            new MaxPool2d(2)));
        Classifier = AddModule("classifier", new Sequential(
            new Linear(16 * 5 * 5, 120, generator: generator),
            new ReLU(),
            new Linear(120, 84, generator: generator),
            new ReLU(),
            new Linear(84, numClasses, generator: generator)));
    }

    public override string TypeName => "LeNet5";
    public Sequential Features { get; }
    public Sequential Classifier { get; }

    protected override Tensor ForwardCore(Tensor x)
    {
        if (x.Rank != 4 || x.Shape.Height != 28 || x.Shape.Width != 28)
            throw new ArgumentException($"{Describe()}: expected input (N,C,28,28), got {x.Shape}");
        return Classifier.Forward(Ops.Flatten(Features.Forward(x)));
    }
}
