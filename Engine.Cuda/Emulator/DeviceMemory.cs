namespace Engine.Cuda.Emulator;

/// <summary>
/// Emulated device memory. A device pointer is synthetic: allocation id in the high bits, byte offset in the low
/// <see cref="OffsetBits"/>, so resolving an address is one shift and one bounds check, and an address that strays
/// off its allocation (before or after) is caught. Address 0 is never valid.
/// </summary>
internal sealed class DeviceMemory
{
    internal const int OffsetBits = 36;
    private const ulong OffsetMask = (1UL << OffsetBits) - 1;

    private readonly List<byte[]?> _blocks = [];
    /// <summary>Per allocation, per 4-byte word: the (launch, thread) that last stored to it (the write-race checker).</summary>
    private readonly List<long[]?> _writers = [];
    private readonly Stack<int> _freeIds = new();

    public long BytesInUse { get; private set; }

    public ulong Allocate(long bytes)
    {
        if (bytes <= 0 || bytes > Array.MaxLength) throw new PtxException($"cannot allocate {bytes} bytes of emulated device memory");
        int index;
        if (_freeIds.Count > 0)
        {
            index = _freeIds.Pop();
            _blocks[index] = new byte[bytes];
        }
        else
        {
            index = _blocks.Count;
            _blocks.Add(new byte[bytes]);
            _writers.Add(null);
        }
        BytesInUse += bytes;
        return (ulong)(index + 1) << OffsetBits;
    }

    public void Free(ulong address)
    {
        int index = (int)(address >> OffsetBits) - 1;
        if ((address & OffsetMask) != 0 || index < 0 || index >= _blocks.Count || _blocks[index] is null)
            throw new PtxException($"free of 0x{address:x}, which is not the start of a live allocation");
        BytesInUse -= _blocks[index]!.Length;
        _blocks[index] = null;
        _writers[index] = null;
        _freeIds.Push(index);
    }

    /// <summary>The bytes [address, address + count) of one allocation, or an exception naming the address.</summary>
    public Span<byte> Span(ulong address, long count)
    {
        var block = Block(address, out long offset);
        if (block is null || count < 0 || offset + count > block.Length)
            throw new PtxException($"host access of {count} bytes at 0x{address:x} is outside every allocation{Describe(address)}");
        return block.AsSpan((int)offset, (int)count);
    }

    /// <summary>The allocation holding <paramref name="address"/> (null if none) and the offset in it.</summary>
    public byte[]? Block(ulong address, out long offset)
    {
        ulong index = (address >> OffsetBits) - 1;
        offset = (long)(address & OffsetMask);
        return index < (ulong)_blocks.Count ? _blocks[(int)index] : null;
    }

    /// <summary>The write-race shadow of an allocation, created on first use.</summary>
    public long[] Writers(ulong address)
    {
        int index = (int)(address >> OffsetBits) - 1;
        return _writers[index] ??= new long[(_blocks[index]!.Length + 3) / 4];
    }

    /// <summary>" (allocation #i of n bytes, offset o)" for error messages.</summary>
    public string Describe(ulong address)
    {
        ulong index = (address >> OffsetBits) - 1;
        if (address == 0) return " (null pointer)";
        if (index >= (ulong)_blocks.Count || _blocks[(int)index] is null) return " (no live allocation there)";
        return $" (allocation #{index + 1} of {_blocks[(int)index]!.Length} bytes, offset {(long)(address & OffsetMask)})";
    }
}
