using Engine.Data;

namespace Engine.Tests.Support;

/// <summary>The bundled digits (data/mnist-10k at the repository root), loaded once per test run.</summary>
public static class TestData
{
    private static readonly Lazy<(Dataset Train, Dataset Test)> s_mnist = new(() => Dataset.MnistFromDirectory(MnistDirectory));

    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException($"no Engine.sln above {AppContext.BaseDirectory}");
        }
    }

    public static string MnistDirectory => Path.Combine(RepositoryRoot, "data", "mnist-10k");

    public static Dataset MnistTrain => s_mnist.Value.Train;
    public static Dataset MnistTest => s_mnist.Value.Test;
}
