// Loads a safetensors checkpoint (as `engine train` or Checkpoint.Save writes it) and classifies an image with it,
// using only the Engine NuGet packages and no native library.
//
//   Predict CHECKPOINT IMAGE     classify IMAGE (PNG, PGM or PPM) with the model CHECKPOINT names
//   Predict                      self-check: saves a seeded LeNet-5 and a drawn digit to a temporary folder,
//                                loads both back and checks the loaded model predicts exactly as the saved one
using Engine;
using Engine.Cpu;
using Engine.Data;
using Engine.Imaging;
using Engine.Models;
using Engine.Nn;
using Engine.Serialization;

try
{
    if (args.Length == 2) return Classify(args[0], args[1], expected: null);
    if (args.Length != 0)
    {
        Console.Error.WriteLine("usage: Predict [CHECKPOINT IMAGE]");
        return 2;
    }
    string folder = Directory.CreateTempSubdirectory("engine-sample-").FullName;
    try
    {
        string checkpoint = Path.Combine(folder, "lenet5.safetensors"), image = Path.Combine(folder, "digit.png");
        var model = ModelZoo.Create("lenet5", numClasses: 10, inChannels: 1, generator: new Generator(seed: 1));
        Checkpoint.Save(checkpoint, model, new CheckpointInfo("lenet5", NumClasses: 10, InChannels: 1));
        DrawOne(28, 28).Save(image);
        using var backend = new CpuBackend(threads: 2);
        float[] before = Predict(model.To(backend), ModelZoo.Find("lenet5"), 1, Image.Load(image), backend);
        return Classify(checkpoint, image, expected: before);
    }
    finally { Directory.Delete(folder, recursive: true); }
}
catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

// Loads CHECKPOINT and IMAGE, prints the three likeliest classes; with `expected`, checks the probabilities equal it.
static int Classify(string checkpointPath, string imagePath, float[]? expected)
{
    var checkpoint = Checkpoint.Load(checkpointPath);
    var info = checkpoint.Info;
    Module model = ModelZoo.Create(info.Model, info.NumClasses, info.InChannels);
    checkpoint.LoadInto(model);
    using var backend = new CpuBackend(threads: 2);
    float[] probabilities = Predict(model.To(backend), ModelZoo.Find(info.Model), info.InChannels, Image.Load(imagePath), backend);
    Console.WriteLine($"model {info.Model} ({info.NumClasses} classes) from {Path.GetFileName(checkpointPath)}, image {Path.GetFileName(imagePath)}");
    foreach (int k in Enumerable.Range(0, probabilities.Length).OrderByDescending(k => probabilities[k]).Take(3))
        Console.WriteLine($"  class {k}: {probabilities[k]:P2}");
    if (expected is null) return 0;
    bool same = probabilities.AsSpan().SequenceEqual(expected);
    Console.WriteLine(same ? "self-check: the loaded model predicts exactly as the saved one" : "self-check FAILED: the loaded model predicts differently");
    return same ? 0 : 1;
}

// The image converted to `channels` channels at the zoo entry's input size, normalised like the CLI's MNIST data
// (use your training's normalisation), through the model: the softmax of the logits, shape (classes).
static float[] Predict(Module model, ModelEntry entry, int channels, Image image, IBackend backend)
{
    float[] chw = image.WithChannels(channels).Resize(entry.InputWidth, entry.InputHeight).ToChw();
    for (int i = 0; i < chw.Length; i++) chw[i] = (chw[i] - Dataset.MnistMean) / Dataset.MnistStd;
    model.Eval();
    using var scope = Scope.Begin();
    using var noGrad = Autograd.NoGrad();
    var x = Tensor.FromArray(backend, chw, entry.DefaultInput(channels));
    return Ops.Softmax(model.Forward(x)).ToArray();
}

// A handwritten-looking "1": a slanted stroke, white on black like MNIST.
static Image DrawOne(int width, int height)
{
    var image = new Image(width, height, channels: 1);
    for (int y = 4; y < height - 4; y++)
        for (int dx = -1; dx <= 1; dx++)
            image[y, width / 2 + (height / 2 - y) / 6 + dx, 0] = dx == 0 ? (byte)255 : (byte)160;
    return image;
}
