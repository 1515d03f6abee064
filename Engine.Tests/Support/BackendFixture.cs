using Engine.Cpu;
using NUnit.Framework;

namespace Engine.Tests.Support;

/// <summary>
/// The base of every backend-dependent fixture: a test class derives from it (abstract, holding the tests) and
/// each backend adds a one-line concrete subclass that says how to create the backend (see CpuFixtures.cs).
/// The backend lives for the fixture and is disposed at its end when it is disposable.
/// </summary>
public abstract partial class BackendFixture
{
    private IBackend? _backend;

    protected abstract IBackend CreateBackend();

    protected IBackend Backend => _backend ?? throw new InvalidOperationException("the fixture's backend is not set up yet");

    [OneTimeSetUp]
    public void CreateFixtureBackend() => _backend = CreateBackend();

    [OneTimeTearDown]
    public void DisposeFixtureBackend()
    {
        (_backend as IDisposable)?.Dispose();
        _backend = null;
    }

    /// <summary>A tensor on the fixture's backend from double values (rounded to float32).</summary>
    protected Tensor Upload(double[] values, params int[] shape) =>
        Tensor.FromArray(Backend, values.Select(v => (float)v).ToArray(), new Shape(shape));

    protected Tensor Upload(float[] values, params int[] shape) => Tensor.FromArray(Backend, values, new Shape(shape));

    /// <summary>A raw backend buffer holding <paramref name="values"/> (for calling primitives directly).</summary>
    protected DeviceBuffer Buffer(double[] values)
    {
        var buffer = Backend.Allocate(values.Length);
        Backend.Upload(values.Select(v => (float)v).ToArray(), buffer);
        return buffer;
    }

    /// <summary>A raw backend buffer of <paramref name="length"/> floats filled with a sentinel, so unwritten outputs show.</summary>
    protected DeviceBuffer Output(int length, float sentinel = float.NaN)
    {
        var buffer = Backend.Allocate(length);
        Backend.Fill(buffer, sentinel, length);
        return buffer;
    }

    protected float[] Download(DeviceBuffer buffer, int length)
    {
        var values = new float[length];
        Backend.Download(buffer, values);
        return values;
    }
}

/// <summary>The CPU backend with two threads (so the worker pool's split is exercised).</summary>
public static class CpuBackends
{
    public static IBackend TwoThreads() => new CpuBackend(2);
}
