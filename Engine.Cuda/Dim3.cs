namespace Engine.Cuda;

/// <summary>A grid or block extent (x fastest).</summary>
public readonly record struct Dim3(int X, int Y = 1, int Z = 1)
{
    public int Count => X * Y * Z;
    public static implicit operator Dim3(int x) => new(x);
    public override string ToString() => $"({X},{Y},{Z})";
}
