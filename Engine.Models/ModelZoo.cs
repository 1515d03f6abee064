using Engine.Nn;

namespace Engine.Models;

/// <summary>Creates zoo models by torchvision's names (plus lenet5, lenet5_classic, resnet20 ... resnet1202 and unet).</summary>
public static class ModelZoo
{
    private static readonly Dictionary<string, Func<int, int, Module>> Factories = BuildFactories();

    private static Dictionary<string, Func<int, int, Module>> BuildFactories()
    {
        var f = new Dictionary<string, Func<int, int, Module>>
        {
            ["lenet5"] = (n, c) => new LeNet5(n, c),
            ["lenet5_classic"] = (n, c) => new LeNet5Classic(n, c),
            ["alexnet"] = (n, c) => new AlexNet(n, c),
            ["googlenet"] = (n, c) => new GoogLeNet(n, c),
            ["mobilenet_v2"] = (n, c) => new MobileNetV2(n, c),
            ["convnext_tiny"] = (n, c) => new ConvNeXt(n, c),
            ["unet"] = (n, c) => new UNet(n, c),
        };
        foreach (int depth in new[] { 11, 13, 16, 19 })
        {
            f[$"vgg{depth}"] = (n, c) => new Vgg(depth, false, n, c);
            f[$"vgg{depth}_bn"] = (n, c) => new Vgg(depth, true, n, c);
        }
        foreach (int depth in new[] { 18, 34, 50, 101, 152 }) f[$"resnet{depth}"] = (n, c) => new ResNet(depth, n, c);
        foreach (int depth in new[] { 20, 32, 44, 56, 110, 1202 }) f[$"resnet{depth}"] = (n, c) => new CifarResNet(depth, n, c);
        for (int b = 0; b <= 7; b++)
        {
            int variant = b;
            f[$"efficientnet_b{b}"] = (n, c) => new EfficientNet(variant, n, c);
        }
        return f;
    }

    public static IReadOnlyCollection<string> Names => Factories.Keys;

    /// <summary>A freshly initialized model (not yet on a backend: call To(backend)).</summary>
    public static Module Create(string name, int numClasses = 1000, int inChannels = 3)
    {
        if (!Factories.TryGetValue(name, out var factory))
            throw new ArgumentException($"unknown model '{name}'; known models: {string.Join(", ", Factories.Keys.Order())}");
        if (numClasses <= 0 || inChannels <= 0)
            throw new ArgumentException($"model '{name}': expected positive class and channel counts, got {numClasses} and {inChannels}");
        return factory(numClasses, inChannels);
    }
}
