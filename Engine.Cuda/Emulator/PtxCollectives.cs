namespace Engine.Cuda.Emulator;

// Warp collectives: shfl.sync and vote.sync run once every lane named by the member mask waits at the same one.
internal sealed partial class PtxEmulator
{
    /// <summary>Runs every collective whose lanes have all arrived; true if any ran.</summary>
    private bool RunCollectives()
    {
        bool ran = false;
        for (int warp = 0; warp * WarpSize < _threads; warp++)
        {
            int first = warp * WarpSize, end = Math.Min(first + WarpSize, _threads);
            for (int t = first; t < end; t++)
            {
                if (_state[t] != ThreadState.AtCollective) continue;
                if (TryRunCollective(t, first, end)) ran = true;
                break;
            }
        }
        return ran;
    }

    private bool TryRunCollective(int waiting, int first, int end)
    {
        int pc = _pc[waiting];
        ref readonly Instruction ins = ref _code[pc];
        uint mask = (uint)_registers[waiting * _slots + ins.E];
        if ((mask >> (waiting - first) & 1) == 0)
            throw Fault(waiting, pc, $"the member mask 0x{mask:x8} does not include the executing lane {waiting - first}");
        for (int lane = 0; lane < WarpSize; lane++)
        {
            if ((mask >> lane & 1) == 0) continue;
            int t = first + lane;
            if (t >= end)
                throw Fault(waiting, pc, $"the member mask 0x{mask:x8} names lane {lane}, which does not exist in a block of {_threads} threads");
            switch (_state[t])
            {
                case ThreadState.Exited:
                    throw Stuck($"{_kernel.Name}: {Where(pc)} names lane {lane} in its member mask 0x{mask:x8}, but that thread has exited");
                case ThreadState.AtBarrier:
                    return false;
                case ThreadState.AtCollective when _pc[t] != pc:
                    throw Stuck($"warp divergence in {_kernel.Name}: lanes of one mask wait at different collectives ({Where(pc)} and {Where(_pc[t])})");
            }
            if ((uint)_registers[t * _slots + ins.E] != mask)
                throw Fault(t, pc, $"lanes disagree on the member mask (0x{mask:x8} and 0x{(uint)_registers[t * _slots + ins.E]:x8})");
        }
        Span<ulong> result = stackalloc ulong[WarpSize];
        if (ins.Op == Op.Shfl) Shuffle(in ins, mask, first, waiting, pc, result);
        else Vote(in ins, mask, first, result);
        for (int lane = 0; lane < WarpSize; lane++)
        {
            if ((mask >> lane & 1) == 0) continue;
            int t = first + lane;
            _registers[t * _slots + ins.D] = result[lane];
            _pc[t]++;
            _state[t] = ThreadState.Ready;
        }
        return true;
    }

    /// <summary>
    /// shfl.sync (PTX ISA): c packs the clamp value in bits 4:0 and the segment mask in bits 12:8;
    /// a lane whose source falls outside its segment reads its own value.
    /// </summary>
    private void Shuffle(in Instruction ins, uint mask, int first, int waiting, int pc, Span<ulong> result)
    {
        for (int lane = 0; lane < WarpSize; lane++)
        {
            if ((mask >> lane & 1) == 0) continue;
            var r = _registers.AsSpan((first + lane) * _slots, _slots);
            int b = (int)((uint)r[ins.B] & 0x1f), c = (int)(uint)r[ins.C];
            int clamp = c & 0x1f, segment = (c >> 8) & 0x1f;
            int minLane = lane & segment, maxLane = minLane | (clamp & ~segment);
            (int j, bool inRange) = (ShflMode)ins.Mode switch
            {
                ShflMode.Up => (lane - b, lane - b >= maxLane),
                ShflMode.Down => (lane + b, lane + b <= maxLane),
                ShflMode.Bfly => (lane ^ b, (lane ^ b) <= maxLane),
                _ => (minLane | (b & ~segment), (minLane | (b & ~segment)) <= maxLane),
            };
            if (!inRange) j = lane;
            if ((mask >> j & 1) == 0)
                throw Fault(first + lane, pc, $"shfl reads lane {j}, which is not in the member mask 0x{mask:x8}");
            result[lane] = (uint)_registers[(first + j) * _slots + ins.A];
        }
    }

    private void Vote(in Instruction ins, uint mask, int first, Span<ulong> result)
    {
        uint ballot = 0;
        for (int lane = 0; lane < WarpSize; lane++)
            if ((mask >> lane & 1) != 0 && _registers[(first + lane) * _slots + ins.A] != 0) ballot |= 1u << lane;
        ulong value = ins.Op switch
        {
            Op.VoteAll => ballot == mask ? 1UL : 0UL,
            Op.VoteAny => ballot != 0 ? 1UL : 0UL,
            _ => ballot,
        };
        result.Fill(value);
    }
}
