using System.Globalization;

namespace Engine.Cuda.Emulator;

// Operands of PtxDecoder: registers (width-checked), literals and shared addresses as constant slots, addresses.
internal sealed partial class PtxDecoder
{
    private (string Name, long Offset) SplitAddress(string operand)
    {
        if (!operand.StartsWith('[') || !operand.EndsWith(']')) throw Fail($"expected an address [base+offset], got '{operand}'");
        string inner = operand[1..^1].Replace(" ", "");
        int plus = inner.IndexOfAny(['+', '-'], 1);
        if (plus < 0) return (inner, 0);
        long offset = (long)Literal(inner[(plus + 1)..], "s64");
        return (inner[..plus], inner[plus] == '-' ? -offset : offset);
    }

    private void Binary(ref Instruction ins, Op op, string[] ops, string type)
    {
        if (ops.Length != 3) throw Fail($"expected 3 operands, got {ops.Length}");
        Set(ref ins, op, Register(ops[0], Width(type)), Source(ops[1], type), Source(ops[2], type));
    }

    private void Ternary(ref Instruction ins, Op op, string[] ops, string type)
    {
        if (ops.Length != 4) throw Fail($"expected 4 operands, got {ops.Length}");
        Set(ref ins, op, Register(ops[0], Width(type)), Source(ops[1], type), Source(ops[2], type), Source(ops[3], type));
    }

    private static void Set(ref Instruction ins, Op op, int d, int a = 0, int b = 0, int c = 0)
    {
        ins.Op = op;
        ins.D = d;
        ins.A = a;
        ins.B = b;
        ins.C = c;
    }

    private void Expect(string[] ops, int count, List<string> mods, int modCount)
    {
        if (ops.Length != count) throw Fail($"expected {count} operands, got {ops.Length}");
        if (mods.Count != modCount) throw Fail($"unexpected modifiers .{string.Join(".", mods)}");
    }

    /// <summary>f32 arithmetic must say .rn: without it ptxas may contract mul+add into fma (CUDA.md).</summary>
    private void RequireRn(List<string> mods, string opcode, int count)
    {
        if (mods.Count != count || mods[0] != "rn")
            throw Fail($"'{opcode}': f32 arithmetic needs the explicit .rn rounding modifier (other modes are not supported)");
    }

    private int Width(string type) => type switch
    {
        "pred" => 1,
        "b32" or "u32" or "s32" or "f32" => 32,
        "b64" or "u64" or "s64" => 64,
        "" => 0,
        _ => throw Fail($"unsupported type '.{type}'"),
    };

    private int Register(string name, int width)
    {
        if (!registers.TryGetValue(name, out var reg)) throw Fail($"undeclared register '{name}'");
        if (reg.Width != width) throw Fail($"register '{name}' is {reg.Width}-bit, the instruction needs {width}-bit");
        return reg.Slot;
    }

    /// <summary>A source operand: a register, a special register, a literal or a shared array's address.</summary>
    private int Source(string token, string type)
    {
        if (token.StartsWith('%'))
        {
            int special = Array.IndexOf(PtxKernel.SpecialNames, token);
            if (special >= 0)
            {
                if (Width(type) != 32) throw Fail($"special register '{token}' is 32-bit");
                return special;
            }
            return Register(token, Width(type));
        }
        if (shared.TryGetValue(token, out long address)) return Constant((ulong)address);
        if (labels.ContainsKey(token) || parameters.Any(p => p.Name == token)) throw Fail($"'{token}' cannot be used as a value here");
        return Constant(Literal(token, type));
    }

    private int Constant(ulong value)
    {
        if (!_constants.TryGetValue(value, out int slot)) _constants[value] = slot = firstConstantSlot + _constants.Count;
        return slot;
    }

    /// <summary>The slot value of a literal: 0fXXXXXXXX / 0dX… / decimal floats for f32, decimal or 0x integers otherwise.</summary>
    private ulong Literal(string token, string type)
    {
        if (type == "f32")
        {
            if (token.StartsWith("0f") || token.StartsWith("0F"))
                return uint.Parse(token[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (token.StartsWith("0d") || token.StartsWith("0D"))
                return BitConverter.SingleToUInt32Bits((float)BitConverter.Int64BitsToDouble(long.Parse(token[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            if ((token.Contains('.') || token.Contains('e')) && float.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out float f))
                return BitConverter.SingleToUInt32Bits(f);
            throw Fail($"expected a float literal (0fXXXXXXXX), got '{token}'");
        }
        string t = token.TrimEnd('U', 'u');
        bool negative = t.StartsWith('-');
        if (negative) t = t[1..];
        bool ok = t.StartsWith("0x") || t.StartsWith("0X")
            ? ulong.TryParse(t[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong v)
            : ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        if (!ok) throw Fail($"expected an integer literal or a register, got '{token}'");
        if (negative) v = (ulong)-(long)v;
        return Width(type) == 64 ? v : (uint)v;
    }

    private PtxException Fail(string message) => PtxParser.Error(where, $"{message} in '{_text}'");
}
