using Engine.Imaging;

namespace Engine.Data;

/// <summary>
/// A data set of image files in one sub-folder per class (root/cat/1.png, root/dog/x.ppm, ...). Classes are the
/// sub-folder names in ordinal order; PNG, PGM and PPM files are read (other files are skipped).
/// </summary>
public static class ImageFolder
{
    private static readonly string[] Extensions = [".png", ".pgm", ".ppm"];

    /// <summary>
    /// Loads every image as C x H x W floats in [0, 1], then normalizes per channel.
    /// </summary>
    /// <param name="root">The folder holding one subfolder of images per class (classes in ordinal name order).</param>
    /// <param name="size">Resize every image to (width, height) bilinearly; when null all must have the first image's size.</param>
    /// <param name="channels">1 (grey) or 3 (RGB); when null, 3 if the first image has colour, else 1. Alpha is dropped.</param>
    /// <param name="normalization">When null, the data set's own per-channel mean and standard deviation.</param>
    public static Dataset Load(string root, (int Width, int Height)? size = null, int? channels = null, ChannelNormalization? normalization = null)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"image folder '{root}' does not exist");
        var classNames = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal).ToArray();
        if (classNames.Length == 0) throw new InvalidDataException($"image folder '{root}': expected one sub-folder per class, found none");
        var files = new List<(string Path, int Label)>();
        for (int label = 0; label < classNames.Length; label++)
        {
            var folder = Path.Combine(root, classNames[label]);
            var images = Directory.GetFiles(folder).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal).ToArray();
            if (images.Length == 0) throw new InvalidDataException($"image folder '{root}': class folder '{classNames[label]}' has no PNG, PGM or PPM files");
            files.AddRange(images.Select(f => (f, label)));
        }

        var first = Image.Load(files[0].Path);
        int targetChannels = channels ?? (first.Channels >= 3 ? 3 : 1);
        if (targetChannels is not (1 or 3)) throw new ArgumentException($"image folder: expected 1 or 3 channels, got {targetChannels}");
        var (width, height) = size ?? (first.Width, first.Height);
        if (width <= 0 || height <= 0) throw new ArgumentException($"image folder: expected a positive size, got {width}x{height}");
        int item = targetChannels * width * height;
        if ((long)item * files.Count > Array.MaxLength)
            throw new InvalidDataException($"image folder '{root}': {files.Count} images of {targetChannels}x{height}x{width} are more than one array holds");
        var pixels = new float[(long)item * files.Count];
        // Each file fills its own slot, so the result does not depend on the order the threads run in.
        try
        {
            Parallel.For(0, files.Count, i =>
            {
                var image = i == 0 ? first : Image.Load(files[i].Path);
                if (size is null && (image.Width != width || image.Height != height))
                    throw new InvalidDataException($"image file '{files[i].Path}': expected {width}x{height} like '{files[0].Path}', got {image.Width}x{image.Height} (pass a size to resize)");
                image.WithChannels(targetChannels).Resize(width, height).WriteChw(pixels.AsSpan(i * item, item));
            });
        }
        catch (AggregateException e)
        {
            // One failing file's own exception (it names the file), not the wrapper.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
        var norm = normalization ?? ChannelNormalization.FromImages(pixels, targetChannels, width * height);
        if (norm.Channels != targetChannels)
            throw new ArgumentException($"image folder: expected a normalization of {targetChannels} channels, got {norm.Channels}");
        norm.ApplyAll(pixels, width * height);
        return new Dataset(pixels, files.Select(f => f.Label).ToArray(), new Shape(targetChannels, height, width), classNames.Length)
        {
            ClassNames = classNames,
            Normalization = norm,
        };
    }
}
