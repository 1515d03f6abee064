using Engine.Imaging;

namespace Engine.Visualization;

/// <summary>The hand-made filters of image processing.</summary>
public enum ClassicKernel { SobelX, SobelY, SobelMagnitude, GaussianBlur, Sharpen, Laplacian }

/// <summary>
/// Classic image kernels applied through the engine's own Conv2d: each channel is convolved separately (a depthwise
/// convolution, groups = C, weight (C, 1, k, k)) after replicate padding of k/2, so the output keeps the input size
/// and edges do not fade to black. Conv2d is a cross-correlation (PyTorch's convention): y[i, j] = sum over (u, v)
/// of k[u, v] * x[i + u - k/2, j + v - k/2].
/// </summary>
public static class ClassicKernels
{
    /// <summary>d/dx: [-1 0 1; -2 0 2; -1 0 1] (positive where brightness grows to the right).</summary>
    public static float[,] SobelX => new float[,] { { -1, 0, 1 }, { -2, 0, 2 }, { -1, 0, 1 } };

    /// <summary>d/dy: the transpose of <see cref="SobelX"/> (positive where brightness grows downwards).</summary>
    public static float[,] SobelY => new float[,] { { -1, -2, -1 }, { 0, 0, 0 }, { 1, 2, 1 } };

    /// <summary>x + (x - blur): [0 -1 0; -1 5 -1; 0 -1 0].</summary>
    public static float[,] Sharpen => new float[,] { { 0, -1, 0 }, { -1, 5, -1 }, { 0, -1, 0 } };

    /// <summary>The 4-neighbour discrete Laplacian [0 1 0; 1 -4 1; 0 1 0].</summary>
    public static float[,] Laplacian => new float[,] { { 0, 1, 0 }, { 1, -4, 1 }, { 0, 1, 0 } };

    /// <summary>A normalized Gaussian of standard deviation sigma, (2 ceil(2 sigma) + 1) square.</summary>
    public static float[,] Gaussian(float sigma = 1f)
    {
        if (!(sigma > 0f)) throw new ArgumentException($"Gaussian kernel: expected a positive sigma, got {sigma}");
        int radius = (int)MathF.Ceiling(2f * sigma), size = 2 * radius + 1;
        var k = new float[size, size];
        float sum = 0f;
        for (int u = 0; u < size; u++)
            for (int v = 0; v < size; v++)
                sum += k[u, v] = MathF.Exp(-((u - radius) * (u - radius) + (v - radius) * (v - radius)) / (2f * sigma * sigma));
        for (int u = 0; u < size; u++)
            for (int v = 0; v < size; v++) k[u, v] /= sum;
        return k;
    }

    /// <summary>
    /// y = the kernel applied to every channel of x (N x C x H x W), same size (replicate padding). Differentiable:
    /// gradients flow to x (activation maximization blurs through it).
    /// </summary>
    public static Tensor Apply(Tensor x, float[,] kernel)
    {
        if (x.Rank != 4) throw new ArgumentException($"classic kernels: expected an input (N,C,H,W), got {x.Shape}");
        int r = kernel.GetLength(0), s = kernel.GetLength(1), channels = x.Shape.Channels;
        if (r % 2 == 0 || s % 2 == 0) throw new ArgumentException($"classic kernels: expected an odd kernel size, got {r}x{s}");
        // weight (C, 1, R, S): the same kernel for every channel.
        var weight = new float[channels * r * s];
        for (int c = 0; c < channels; c++)
            for (int u = 0; u < r; u++)
                for (int v = 0; v < s; v++) weight[(c * r + u) * s + v] = kernel[u, v];
        var w = Tensor.FromArray(x.Backend, weight, new Shape(channels, 1, r, s));
        var padded = Ops.Pad2d(x, new Padding2d(r / 2, s / 2, r / 2, s / 2), PaddingMode.Replicate, where: "ClassicKernels");
        return Ops.Conv2d(padded, w, null, new Size2(1, 1), 0, new Size2(1, 1), channels, "ClassicKernels");
    }

    /// <summary>One of the classic filters on x (N x C x H x W); the Sobel magnitude is sqrt(gx^2 + gy^2).</summary>
    public static Tensor Apply(Tensor x, ClassicKernel kernel) => kernel switch
    {
        ClassicKernel.SobelX => Apply(x, SobelX),
        ClassicKernel.SobelY => Apply(x, SobelY),
        ClassicKernel.SobelMagnitude => Ops.Sqrt(Ops.Add(Ops.Square(Apply(x, SobelX)), Ops.Square(Apply(x, SobelY)))),
        ClassicKernel.GaussianBlur => Apply(x, Gaussian()),
        ClassicKernel.Sharpen => Apply(x, Sharpen),
        _ => Apply(x, Laplacian),
    };

    /// <summary>
    /// Every classic filter applied to <paramref name="image"/> (its samples as [0, 1] floats), as pictures by
    /// kernel name: blur and sharpen clamped to [0, 1]; the Sobel magnitude from 0 (black) to its maximum; signed
    /// responses (Sobel x/y, Laplacian) with 0 as mid-grey.
    /// </summary>
    public static IReadOnlyList<(ClassicKernel Kernel, Image Picture)> Render(Image image, IBackend backend)
    {
        var result = new List<(ClassicKernel, Image)>();
        using var scope = Scope.Begin();
        using var noGrad = Autograd.NoGrad();
        var x = Tensor.FromArray(backend, image.ToChw(), new Shape(1, image.Channels, image.Height, image.Width));
        foreach (var kernel in Enum.GetValues<ClassicKernel>())
        {
            var y = Apply(x, kernel).ToArray();
            float limit = Math.Max(y.Max(v => MathF.Abs(v)), 1e-6f);
            var picture = kernel switch
            {
                ClassicKernel.GaussianBlur or ClassicKernel.Sharpen => Image.FromChw(y, image.Channels, image.Height, image.Width),
                ClassicKernel.SobelMagnitude => Image.FromChw(y, image.Channels, image.Height, image.Width, 0f, limit),
                _ => Pictures.Signed(y, image.Channels, image.Height, image.Width, limit),
            };
            result.Add((kernel, picture));
        }
        return result;
    }

    /// <summary>"sobel-x", "gaussian-blur", ...: the file-name form of a kernel.</summary>
    public static string FileName(ClassicKernel kernel) => kernel switch
    {
        ClassicKernel.SobelX => "sobel-x",
        ClassicKernel.SobelY => "sobel-y",
        ClassicKernel.SobelMagnitude => "sobel-magnitude",
        ClassicKernel.GaussianBlur => "gaussian-blur",
        ClassicKernel.Sharpen => "sharpen",
        _ => "laplacian",
    };
}
