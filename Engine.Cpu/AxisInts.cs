using System.Runtime.CompilerServices;

namespace Engine.Cpu;

/// <summary>Per-axis integers (strides, sizes) of up to <see cref="Shape.MaxRank"/> axes, held inline: a kernel's
/// parallel body takes them by value in its state instead of an array allocated per call.</summary>
[InlineArray(Shape.MaxRank)]
internal struct AxisInts
{
    private int _element0;
}
