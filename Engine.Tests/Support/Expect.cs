namespace Engine.Tests.Support;

/// <summary>
/// A failed expectation inside a property. Properties throw this rather than calling NUnit's Assert, because an
/// NUnit assertion records the failure in the test result at once, before FsCheck can shrink the case and report
/// it with its replay seed.
/// </summary>
public sealed class PropertyFailure(string message) : Exception(message);

public static class Expect
{
    public static void That(bool condition, string message)
    {
        if (!condition) throw new PropertyFailure(message);
    }
}
