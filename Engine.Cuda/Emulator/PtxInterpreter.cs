using System.Runtime.CompilerServices;
using static Engine.Cuda.Emulator.FloatSemantics;

namespace Engine.Cuda.Emulator;

// The inner loop: one thread runs until it reaches bar.sync, a warp collective or exit.
// 32-bit results are stored zero-extended; f32 values as their bits (see FloatSemantics).
internal sealed partial class PtxEmulator
{
    private void Run(int t)
    {
        var code = _code;
        var r = _registers.AsSpan(t * _slots, _slots);
        int pc = _pc[t];
        long executed = 0;
        try
        {
            while (true)
            {
                ref readonly Instruction i = ref code[pc];
                executed++;
                if (i.Guard >= 0 && (r[i.Guard] != 0) == i.GuardNegated)
                {
                    pc++;
                    continue;
                }
                switch (i.Op)
                {
                    case Op.Mov: r[i.D] = r[i.A]; break;
                    case Op.Selp: r[i.D] = r[i.C] != 0 ? r[i.A] : r[i.B]; break;
                    case Op.Add32: r[i.D] = (uint)((uint)r[i.A] + (uint)r[i.B]); break;
                    case Op.Sub32: r[i.D] = (uint)((uint)r[i.A] - (uint)r[i.B]); break;
                    case Op.MulLo32: r[i.D] = (uint)((uint)r[i.A] * (uint)r[i.B]); break;
                    case Op.MulHiU32: r[i.D] = (uint)(((ulong)(uint)r[i.A] * (uint)r[i.B]) >> 32); break;
                    case Op.MulHiS32: r[i.D] = (uint)(((long)(int)r[i.A] * (int)r[i.B]) >> 32); break;
                    case Op.MadLo32: r[i.D] = (uint)((uint)r[i.A] * (uint)r[i.B] + (uint)r[i.C]); break;
                    case Op.MulWideS32: r[i.D] = (ulong)((long)(int)r[i.A] * (int)r[i.B]); break;
                    case Op.MulWideU32: r[i.D] = (ulong)(uint)r[i.A] * (uint)r[i.B]; break;
                    case Op.DivS32: r[i.D] = (uint)DivS32((int)r[i.A], (int)r[i.B], t, pc); break;
                    case Op.DivU32: r[i.D] = (uint)r[i.A] / NonZero((uint)r[i.B], t, pc); break;
                    case Op.RemS32: r[i.D] = (uint)RemS32((int)r[i.A], (int)r[i.B], t, pc); break;
                    case Op.RemU32: r[i.D] = (uint)r[i.A] % NonZero((uint)r[i.B], t, pc); break;
                    case Op.MinS32: r[i.D] = (uint)Math.Min((int)r[i.A], (int)r[i.B]); break;
                    case Op.MinU32: r[i.D] = Math.Min((uint)r[i.A], (uint)r[i.B]); break;
                    case Op.MaxS32: r[i.D] = (uint)Math.Max((int)r[i.A], (int)r[i.B]); break;
                    case Op.MaxU32: r[i.D] = Math.Max((uint)r[i.A], (uint)r[i.B]); break;
                    case Op.Neg32: r[i.D] = (uint)-(int)r[i.A]; break;
                    case Op.Abs32: r[i.D] = (uint)((int)r[i.A] == int.MinValue ? int.MinValue : Math.Abs((int)r[i.A])); break;
                    case Op.And32: r[i.D] = r[i.A] & r[i.B]; break;
                    case Op.Or32: r[i.D] = r[i.A] | r[i.B]; break;
                    case Op.Xor32: r[i.D] = r[i.A] ^ r[i.B]; break;
                    case Op.Not32: r[i.D] = ~(uint)r[i.A]; break;
                    case Op.NotPred: r[i.D] = r[i.A] == 0 ? 1UL : 0UL; break;
                    // Shift counts clamp at the register width (PTX), where C# would take them modulo 32/64.
                    case Op.Shl32: r[i.D] = (uint)r[i.B] >= 32 ? 0 : (uint)((uint)r[i.A] << (int)r[i.B]); break;
                    case Op.ShrU32: r[i.D] = (uint)r[i.B] >= 32 ? 0 : (uint)r[i.A] >> (int)r[i.B]; break;
                    case Op.ShrS32: r[i.D] = (uint)((int)r[i.A] >> (int)Math.Min((uint)r[i.B], 31u)); break;
                    case Op.Add64: r[i.D] = r[i.A] + r[i.B]; break;
                    case Op.Sub64: r[i.D] = r[i.A] - r[i.B]; break;
                    case Op.MulLo64: r[i.D] = r[i.A] * r[i.B]; break;
                    case Op.MadLo64: r[i.D] = r[i.A] * r[i.B] + r[i.C]; break;
                    case Op.And64: r[i.D] = r[i.A] & r[i.B]; break;
                    case Op.Or64: r[i.D] = r[i.A] | r[i.B]; break;
                    case Op.Xor64: r[i.D] = r[i.A] ^ r[i.B]; break;
                    case Op.Shl64: r[i.D] = (uint)r[i.B] >= 64 ? 0 : r[i.A] << (int)r[i.B]; break;
                    case Op.ShrU64: r[i.D] = (uint)r[i.B] >= 64 ? 0 : r[i.A] >> (int)r[i.B]; break;
                    case Op.ShrS64: r[i.D] = (ulong)((long)r[i.A] >> (int)Math.Min((uint)r[i.B], 63u)); break;
                    case Op.MinS64: r[i.D] = (ulong)Math.Min((long)r[i.A], (long)r[i.B]); break;
                    case Op.MaxS64: r[i.D] = (ulong)Math.Max((long)r[i.A], (long)r[i.B]); break;
                    case Op.AddF: r[i.D] = Out(In(r[i.A], i.Ftz) + In(r[i.B], i.Ftz), i.Ftz); break;
                    case Op.SubF: r[i.D] = Out(In(r[i.A], i.Ftz) - In(r[i.B], i.Ftz), i.Ftz); break;
                    case Op.MulF: r[i.D] = Out(In(r[i.A], i.Ftz) * In(r[i.B], i.Ftz), i.Ftz); break;
                    case Op.FmaF: r[i.D] = Out(MathF.FusedMultiplyAdd(In(r[i.A], i.Ftz), In(r[i.B], i.Ftz), In(r[i.C], i.Ftz)), i.Ftz); break;
                    case Op.DivF: r[i.D] = Out(In(r[i.A], i.Ftz) / In(r[i.B], i.Ftz), i.Ftz); break;
                    case Op.NegF: r[i.D] = Out(-In(r[i.A], i.Ftz), i.Ftz); break;
                    case Op.AbsF: r[i.D] = Out(MathF.Abs(In(r[i.A], i.Ftz)), i.Ftz); break;
                    case Op.MinF: r[i.D] = Out(float.MinNumber(In(r[i.A], i.Ftz), In(r[i.B], i.Ftz)), i.Ftz); break;
                    case Op.MaxF: r[i.D] = Out(float.MaxNumber(In(r[i.A], i.Ftz), In(r[i.B], i.Ftz)), i.Ftz); break;
                    case Op.SqrtF: r[i.D] = Out(MathF.Sqrt(In(r[i.A], i.Ftz)), i.Ftz); break;
                    case Op.RcpF: r[i.D] = Out(1f / In(r[i.A], i.Ftz), i.Ftz); break;
                    case Op.RcpApproxF: r[i.D] = Out(RcpApprox(In(r[i.A], i.Ftz), PerturbApproximations), i.Ftz); break;
                    case Op.RsqrtApproxF: r[i.D] = Out(RsqrtApprox(In(r[i.A], i.Ftz), PerturbApproximations), i.Ftz); break;
                    case Op.Ex2ApproxF: r[i.D] = Out(Ex2Approx(In(r[i.A], i.Ftz), PerturbApproximations), i.Ftz); break;
                    case Op.Lg2ApproxF: r[i.D] = Out(Lg2Approx(In(r[i.A], i.Ftz), PerturbApproximations), i.Ftz); break;
                    case Op.SetpF: r[i.D] = Compare((Cmp)i.Mode, In(r[i.A], i.Ftz), In(r[i.B], i.Ftz)) ? 1UL : 0UL; break;
                    case Op.SetpS32: r[i.D] = Compare((Cmp)i.Mode, (int)r[i.A], (int)r[i.B]) ? 1UL : 0UL; break;
                    case Op.SetpU32: r[i.D] = Compare((Cmp)i.Mode, (uint)r[i.A], (uint)r[i.B]) ? 1UL : 0UL; break;
                    case Op.SetpS64: r[i.D] = Compare((Cmp)i.Mode, (long)r[i.A], (long)r[i.B]) ? 1UL : 0UL; break;
                    case Op.SetpU64: r[i.D] = Compare((Cmp)i.Mode, r[i.A], r[i.B]) ? 1UL : 0UL; break;
                    case Op.CvtS64S32: r[i.D] = (ulong)(long)(int)r[i.A]; break;
                    case Op.CvtU64U32: r[i.D] = (uint)r[i.A]; break;
                    case Op.CvtU32U64: r[i.D] = (uint)r[i.A]; break;
                    case Op.CvtF32S32: r[i.D] = Out((float)(int)r[i.A], i.Ftz); break;
                    case Op.CvtF32U32: r[i.D] = Out((float)(uint)r[i.A], i.Ftz); break;
                    case Op.CvtS32F32: r[i.D] = (uint)ToInt32(RoundIntegral(In(r[i.A], i.Ftz), (Rounding)i.Mode)); break;
                    case Op.CvtU32F32: r[i.D] = ToUInt32(RoundIntegral(In(r[i.A], i.Ftz), (Rounding)i.Mode)); break;
                    case Op.CvtF32F32: r[i.D] = Out(RoundIntegral(In(r[i.A], i.Ftz), (Rounding)i.Mode), i.Ftz); break;
                    case Op.LdParam32: r[i.D] = BitConverter.ToUInt32(_params, (int)i.Imm); break;
                    case Op.LdParam64: r[i.D] = BitConverter.ToUInt64(_params, (int)i.Imm); break;
                    case Op.LdGlobal32: r[i.D] = Unsafe.As<byte, uint>(ref Global(r[i.A] + (ulong)i.Imm, 4, t, pc, false)); break;
                    case Op.LdGlobal64: r[i.D] = Unsafe.As<byte, ulong>(ref Global(r[i.A] + (ulong)i.Imm, 8, t, pc, false)); break;
                    case Op.StGlobal32: Unsafe.As<byte, uint>(ref Global(r[i.A] + (ulong)i.Imm, 4, t, pc, true)) = (uint)r[i.B]; break;
                    case Op.StGlobal64: Unsafe.As<byte, ulong>(ref Global(r[i.A] + (ulong)i.Imm, 8, t, pc, true)) = r[i.B]; break;
                    case Op.LdShared32: r[i.D] = Unsafe.As<byte, uint>(ref Shared(r[i.A] + (ulong)i.Imm, 4, t, pc, false)); break;
                    case Op.LdShared64: r[i.D] = Unsafe.As<byte, ulong>(ref Shared(r[i.A] + (ulong)i.Imm, 8, t, pc, false)); break;
                    case Op.StShared32: Unsafe.As<byte, uint>(ref Shared(r[i.A] + (ulong)i.Imm, 4, t, pc, true)) = (uint)r[i.B]; break;
                    case Op.StShared64: Unsafe.As<byte, ulong>(ref Shared(r[i.A] + (ulong)i.Imm, 8, t, pc, true)) = r[i.B]; break;
                    case Op.Bra:
                        pc = (int)i.Imm;
                        continue;
                    case Op.Bar:
                        Block(t, pc, ThreadState.AtBarrier);
                        return;
                    case Op.Shfl or Op.VoteAll or Op.VoteAny or Op.VoteBallot:
                        Block(t, pc, ThreadState.AtCollective);
                        return;
                    case Op.Exit:
                        Block(t, pc, ThreadState.Exited);
                        return;
                    default:
                        throw Fault(t, pc, $"opcode {i.Op} has no implementation");
                }
                pc++;
                if (executed > _budget) throw Fault(t, pc, $"ran more than {InstructionBudget} instructions (an endless loop?)");
            }
        }
        finally
        {
            _executed += executed;
            _budget -= executed;
        }
    }

    private void Block(int t, int pc, ThreadState state)
    {
        _pc[t] = pc;
        _state[t] = state;
    }

    private int DivS32(int a, int b, int t, int pc)
    {
        if (b == 0) throw Fault(t, pc, "integer division by zero");
        return a == int.MinValue && b == -1 ? int.MinValue : a / b;
    }

    private int RemS32(int a, int b, int t, int pc)
    {
        if (b == 0) throw Fault(t, pc, "integer remainder by zero");
        return b == -1 ? 0 : a % b;
    }

    private uint NonZero(uint b, int t, int pc) => b != 0 ? b : throw Fault(t, pc, "integer division by zero");

    /// <summary>A global access: bounds and alignment checked; stores also feed the write-race checker.</summary>
    private ref byte Global(ulong address, int size, int t, int pc, bool store)
    {
        var block = _memory.Block(address, out long offset);
        if (block is null || offset + size > block.Length)
            throw Fault(t, pc, $"{(store ? "store" : "load")} of {size} bytes at global address 0x{address:x} is out of bounds{_memory.Describe(address)}");
        if ((offset & (size - 1)) != 0)
            throw Fault(t, pc, $"misaligned {size}-byte {(store ? "store" : "load")} at global address 0x{address:x}");
        if (store && CheckRaces)
        {
            ref long writer = ref _memory.Writers(address)[offset >> 2];
            long tag = (_launchId << 32) | (uint)GlobalThreadId(t);
            if (writer >> 32 == _launchId && writer != tag)
                throw Fault(t, pc, $"write race: global address 0x{address:x} was already stored by {DescribeThread((int)(uint)writer)} in this launch (no atomics are used)");
            writer = tag;
        }
        return ref block[offset];
    }

    /// <summary>A shared access: bounds and alignment checked, and the race checker between barriers.</summary>
    private ref byte Shared(ulong address, int size, int t, int pc, bool store)
    {
        if (address + (ulong)size > (ulong)_sharedBytes)
            throw Fault(t, pc, $"{(store ? "store" : "load")} of {size} bytes at shared address 0x{address:x} is outside the {_sharedBytes} bytes of shared memory");
        if ((address & (ulong)(size - 1)) != 0)
            throw Fault(t, pc, $"misaligned {size}-byte {(store ? "store" : "load")} at shared address 0x{address:x}");
        if (CheckRaces) CheckSharedRace((int)address >> 2, size >> 2, t, pc, store);
        return ref _shared[address];
    }

    private void CheckSharedRace(int word, int words, int t, int pc, bool store)
    {
        for (int w = word; w < word + words; w++)
        {
            bool writtenNow = _sharedWriteEpoch[w] == _epoch && _sharedWriter[w] != t;
            if (writtenNow)
                throw Fault(t, pc, $"shared-memory race: word at 0x{w * 4:x} was written by thread {_sharedWriter[w]} since the last barrier");
            if (store)
            {
                if (_sharedReadEpoch[w] == _epoch && _sharedReader[w] != t)
                    throw Fault(t, pc, $"shared-memory race: word at 0x{w * 4:x} was read by {(_sharedReader[w] < 0 ? "several threads" : $"thread {_sharedReader[w]}")} since the last barrier");
                _sharedWriter[w] = t;
                _sharedWriteEpoch[w] = _epoch;
            }
            else
            {
                bool readNow = _sharedReadEpoch[w] == _epoch;
                _sharedReader[w] = readNow && _sharedReader[w] != t ? -1 : t;
                _sharedReadEpoch[w] = _epoch;
            }
        }
    }
}
