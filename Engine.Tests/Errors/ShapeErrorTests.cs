using Engine.Models;
using Engine.Nn;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Errors;

/// <summary>Wrong shapes and sizes get an error naming the layer, what was expected and what came.</summary>
public abstract class ShapeErrorTests : BackendFixture
{
    private LeNet5 Model()
    {
        var model = new LeNet5(generator: new Generator(1));
        model.To(Backend);
        return model;
    }

    private static void AssertMessage(Action action, params string[] parts)
    {
        var e = Assert.Throws<ArgumentException>(() => action());
        foreach (var part in parts) Assert.That(e!.Message, Does.Contain(part));
    }

    [Test]
    public void WrongChannelCountNamesTheLayerAndBothShapes() =>
        AssertMessage(() => Model().Forward(Upload(new double[8 * 3 * 28 * 28], 8, 3, 28, 28)),
            "Conv2d 'features.0'", "expected input with 1 channels (N,1,H,W)", "got (8,3,28,28)");

    [Test]
    public void WrongRankForConv2d() =>
        AssertMessage(() => Model().Features.Forward(Upload(new double[28 * 28], 1, 28, 28)),
            "Conv2d 'features.0'", "(N,1,H,W)", "got (1,28,28)");

    [Test]
    public void WrongFeatureCountForLinear() =>
        AssertMessage(() => Model().Classifier.Forward(Upload(new double[2 * 399], 2, 399)),
            "Linear 'classifier.0'", "expected input with 400 features (...,400)", "got (2,399)");

    [Test]
    public void WrongLastAxisForLinear() =>
        AssertMessage(() => Model().Classifier.Forward(Upload(new double[400], 1, 400, 1)),
            "Linear 'classifier.0'", "(...,400)", "got (1,400,1)");

    [Test]
    public void WrongRankForPooling() =>
        AssertMessage(() => Model().Features[2].Forward(Upload(new double[6 * 28 * 28], 6, 28, 28)),
            "MaxPool2d 'features.2'", "expected an input (N,C,H,W)", "got (6,28,28)");

    [Test]
    public void WrongRankForAveragePooling() =>
        AssertMessage(() => new AvgPool2d(2).Forward(Upload(new double[4], 4)), "AvgPool2d", "(N,C,H,W)", "got (4)");

    [Test]
    public void KernelLargerThanThePaddedInput()
    {
        var conv = new Conv2d(1, 1, 5, padding: 1, generator: new Generator(1));
        conv.To(Backend);
        AssertMessage(() => conv.Forward(Upload(new double[4], 1, 1, 2, 2)), "kernel 5x5", "larger than the padded input 4x4", "input 2x2");
        AssertMessage(() => Engine.Ops.Conv2d(Upload(new double[9], 1, 1, 3, 3), Upload(new double[9], 1, 1, 3, 3), null, 1, 0, 2),
            "dilated extent 5x5", "larger than the padded input 3x3");
        AssertMessage(() => new MaxPool2d(4).Forward(Upload(new double[9], 1, 1, 3, 3)), "MaxPool2d", "kernel 4x4", "larger than the padded input 3x3");
    }

    [Test]
    public void ZeroOrNegativeSizes()
    {
        AssertMessage(() => new Conv2d(0, 6, 5), "Conv2d", "expected positive channels", "in 0");
        AssertMessage(() => new Conv2d(1, 6, 0), "Conv2d", "kernel 0");
        AssertMessage(() => new Conv2d(1, 6, 3, stride: -1), "Conv2d", "stride -1");
        AssertMessage(() => new Conv2d(3, 6, 3, groups: 2), "divisible by groups (2)");
        AssertMessage(() => new Linear(0, 3), "Linear", "expected positive feature counts", "in 0");
        AssertMessage(() => _ = new Shape(2, -1), "non-negative sizes", "(2,-1)");
        AssertMessage(() => new MaxPool2d(0).Forward(Upload(new double[9], 1, 1, 3, 3)), "MaxPool2d", "expected positive kernel size", "kernel 0");
        AssertMessage(() => new AvgPool2d(2, divisorOverride: 0), "divisor override must be positive, got 0");
        AssertMessage(() => new Engine.Data.DataLoader(TestData.MnistTest, 0), "expected a positive batch size, got 0");
        AssertMessage(() => Engine.Ops.Pad2d(Upload(new double[4], 1, 1, 2, 2), new Padding2d(-1, 0, 0, 0)), "non-negative padding");
        AssertMessage(() => Engine.Ops.Pad2d(Upload(new double[4], 1, 1, 2, 2), 2, PaddingMode.Reflect), "reflect padding must be smaller than the input size");
    }

    [Test]
    public void TargetsNotMatchingTheBatch()
    {
        AssertMessage(() => Engine.Ops.CrossEntropy(Upload(new double[4 * 10], 4, 10), [1, 2, 3]), "expected 4 targets", "got (3)");
        AssertMessage(() => Engine.Ops.CrossEntropy(Upload(new double[2 * 10], 2, 10), [1, 10]), "target 1 is 10", "[0, 10)");
        AssertMessage(() => Engine.Ops.MseLoss(Upload(new double[4], 4), Upload(new double[3], 3)), "MSE", "(4) and (3)");
    }

    [Test]
    public void LabelsNotMatchingImages()
    {
        AssertMessage(() => new Engine.Data.Dataset(new float[3 * 4], [0, 1], new Shape(1, 2, 2), 10), "2 labels do not match 12 image values", "(3 images)");
        AssertMessage(() => new Engine.Data.Dataset(new float[2 * 4], [0, 12], new Shape(1, 2, 2), 10), "label 1 is 12");
    }

    [Test]
    public void ShapesThatDoNotBroadcast() =>
        AssertMessage(() => Engine.Ops.Add(Upload(new double[6], 2, 3), Upload(new double[4], 4)), "(2,3) and (4) do not broadcast");

    [Test]
    public void MatMulOfMismatchedMatrices() =>
        AssertMessage(() => Engine.Ops.MatMul(Upload(new double[6], 2, 3), Upload(new double[8], 4, 2)), "expected (M,K) and (K,N)", "(2,3) and (4,2)");
}
