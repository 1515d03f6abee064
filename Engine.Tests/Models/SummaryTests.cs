using Engine.Models;
using Engine.Nn;
using NUnit.Framework;

namespace Engine.Tests.Models;

/// <summary>Multiply-adds and receptive fields in model summaries against their closed forms.</summary>
public class SummaryTests
{
    private static readonly Engine.Cpu.CpuBackend Backend = new(1);

    [Test]
    public void TwoStackedThreeByThreeConvolutionsSeeFiveByFive()
    {
        var model = new Sequential(new Conv2d(1, 2, 3, padding: 1), new ReLU(), new Conv2d(2, 2, 3, padding: 1));
        var rows = model.Summary(new Shape(1, 1, 8, 8), Backend).Layers;
        Assert.That(rows[0].ReceptiveField, Is.EqualTo(new ReceptiveField(3, 3, 1, 1)));
        Assert.That(rows[2].ReceptiveField, Is.EqualTo(new ReceptiveField(5, 5, 1, 1)));
        // dilation 2 and stride 2: 1 + 2*(3-1) = 5, jump 2; then a 3x3 conv adds 2 jumps of 2.
        var strided = new Sequential(new Conv2d(1, 1, 3, stride: 2, dilation: 2), new Conv2d(1, 1, 3));
        var s = strided.Summary(new Shape(1, 1, 16, 16), Backend).Layers;
        Assert.That(s[1].ReceptiveField, Is.EqualTo(new ReceptiveField(9, 9, 2, 2)));
    }

    [Test]
    public void ResNet18LastStageSees435Pixels()
    {
        var summary = ModelZoo.Create("resnet18").Summary(new Shape(1, 3, 224, 224), Backend);
        var last = summary.Layers.Last(l => l.Name == "layer4.1.conv2");
        Assert.That(last.ReceptiveField, Is.EqualTo(new ReceptiveField(435, 435, 32, 32)));
        Assert.That(summary.TotalMacs, Is.EqualTo(1_814_073_344L), "torchvision's 1.81 GMACs");
    }

    [Test]
    public void LeNet5MultiplyAddsFollowTheClosedForm()
    {
        var summary = new LeNet5().Summary(new Shape(1, 1, 28, 28), Backend);
        // conv1 6*28*28*1*25, conv2 16*10*10*6*25, fc 400*120 + 120*84 + 84*10
        long conv1 = 6L * 28 * 28 * 25, conv2 = 16L * 10 * 10 * 150, fc = 400 * 120 + 120 * 84 + 84 * 10;
        Assert.That(summary.Layers.Single(l => l.Name == "features.0").Macs, Is.EqualTo(conv1));
        Assert.That(summary.Layers.Single(l => l.Name == "features.3").Macs, Is.EqualTo(conv2));
        Assert.That(summary.TotalMacs, Is.EqualTo(conv1 + conv2 + fc));
        Assert.That(summary.Layers.Single(l => l.Name == "features.0").ActivationBytes, Is.EqualTo(4L * 6 * 28 * 28));
    }
}
