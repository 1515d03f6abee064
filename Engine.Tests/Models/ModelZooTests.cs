using Engine.Models;
using NUnit.Framework;

namespace Engine.Tests.Models;

public class ModelZooTests
{
    /// <summary>Totals of torchvision's models at 1000 classes and 3 input channels, without auxiliary heads.</summary>
    [TestCase("alexnet", 61_100_840L)]
    [TestCase("vgg11", 132_863_336L)]
    [TestCase("vgg16", 138_357_544L)]
    [TestCase("vgg19", 143_667_240L)]
    [TestCase("vgg16_bn", 138_365_992L)]
    [TestCase("googlenet", 6_624_904L)]
    [TestCase("resnet18", 11_689_512L)]
    [TestCase("resnet34", 21_797_672L)]
    [TestCase("resnet50", 25_557_032L)]
    [TestCase("resnet101", 44_549_160L)]
    [TestCase("resnet152", 60_192_808L)]
    [TestCase("mobilenet_v2", 3_504_872L)]
    [TestCase("efficientnet_b0", 5_288_548L)]
    [TestCase("efficientnet_b1", 7_794_184L)]
    [TestCase("efficientnet_b3", 12_233_232L)]
    [TestCase("efficientnet_b7", 66_347_960L)]
    [TestCase("convnext_tiny", 28_589_128L)]
    public void ParameterCountMatchesTorchvision(string name, long expected) =>
        Assert.That(ModelZoo.Create(name, 1000, 3).ParameterCount(), Is.EqualTo(expected));

    [TestCase("lenet5", 61_706L)]
    [TestCase("lenet5_classic", 61_706L)]
    public void LeNetHas61706Parameters(string name, long expected) =>
        Assert.That(ModelZoo.Create(name, 10, 1).ParameterCount(), Is.EqualTo(expected));

    [Test]
    public void SmallVggParametersAddUp()
    {
        // conv 1->32, 32->32, 32->64, 64->64 (3x3, no bias): 288 + 9,216 + 18,432 + 36,864; batch norms 2 x (32 + 32 + 64 + 64);
        // linear 64*7*7 -> 256: 802,816 + 256; linear 256 -> 10: 2,560 + 10.
        long expected = 288 + 9_216 + 18_432 + 36_864 + 2 * (32 + 32 + 64 + 64) + 802_816 + 256 + 2_560 + 10;
        Assert.That(ModelZoo.Create("vgg_small", 10, 1).ParameterCount(), Is.EqualTo(expected));
    }
}
