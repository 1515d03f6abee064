using Engine.Imaging;

namespace Engine.Data;

/// <summary>
/// Segmentation data as image/mask folder pairs: root/images/NAME.png and root/masks/NAME.png (PNG, PGM or PPM;
/// the mask may have another of these extensions). Mask pixels whose first channel is at least 128 are
/// foreground. Images are scaled to [0, 1]; every pair must have the first image's size.
/// </summary>
public static class MaskFolder
{
    public const string ImagesFolder = "images", MasksFolder = "masks", TrainFolder = "train", TestFolder = "test";
    private static readonly string[] Extensions = [".png", ".pgm", ".ppm"];

    /// <summary>root/train and root/test, each holding images/ and masks/.</summary>
    public static (SegmentationSet Train, SegmentationSet Test) LoadSplits(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"segmentation data directory '{root}' does not exist");
        var train = Load(Path.Combine(root, TrainFolder));
        var test = Load(Path.Combine(root, TestFolder), train.ItemShape[0]);
        if (test.ItemShape != train.ItemShape)
            throw new InvalidDataException($"segmentation data '{root}': test images are {test.ItemShape}, training images {train.ItemShape}; expected one size");
        return (train, test);
    }

    /// <summary>The pairs of one folder; <paramref name="channels"/> 1 or 3 (default: 3 if the first image has colour).</summary>
    public static SegmentationSet Load(string folder, int? channels = null)
    {
        string imageDir = Path.Combine(folder, ImagesFolder), maskDir = Path.Combine(folder, MasksFolder);
        if (!Directory.Exists(imageDir) || !Directory.Exists(maskDir))
            throw new DirectoryNotFoundException($"segmentation folder '{folder}': expected sub-folders '{ImagesFolder}' and '{MasksFolder}'");
        var images = Directory.GetFiles(imageDir).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToArray();
        if (images.Length == 0) throw new InvalidDataException($"segmentation folder '{imageDir}' has no PNG, PGM or PPM files");
        var masks = images.Select(image => FindMask(maskDir, Path.GetFileNameWithoutExtension(image), image)).ToArray();
        var first = Image.Load(images[0]);
        int c = channels ?? (first.Channels >= 3 ? 3 : 1), width = first.Width, height = first.Height, plane = width * height;
        var pixels = new float[(long)images.Length * c * plane];
        var maskValues = new float[(long)images.Length * plane];
        for (int i = 0; i < images.Length; i++)
        {
            var image = i == 0 ? first : Image.Load(images[i]);
            var mask = Image.Load(masks[i]);
            foreach (var (file, picture) in new[] { (images[i], image), (masks[i], mask) })
                if (picture.Width != width || picture.Height != height)
                    throw new InvalidDataException($"image file '{file}': expected {width}x{height} like '{images[0]}', got {picture.Width}x{picture.Height}");
            image.WithChannels(c).WriteChw(pixels.AsSpan(i * c * plane, c * plane));
            for (int p = 0; p < plane; p++) maskValues[i * plane + p] = mask.Pixels[p * mask.Channels] >= 128 ? 1f : 0f;
        }
        return new SegmentationSet(pixels, maskValues, new Shape(c, height, width));
    }

    private static string FindMask(string maskDir, string stem, string image)
    {
        foreach (var extension in Extensions)
        {
            var candidate = Path.Combine(maskDir, stem + extension);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"segmentation: image '{image}' has no mask '{Path.Combine(maskDir, stem)}.png' (or .pgm, .ppm)");
    }
}
