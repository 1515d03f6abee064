namespace Engine.Cuda.Emulator;

/// <summary>
/// Turns one PTX instruction into an <see cref="Instruction"/>: the type suffix picks the opcode, operands become
/// register slots (literals and shared-array addresses become constant slots), labels become instruction indices.
/// Register widths are checked against the instruction's type, as ptxas does.
/// </summary>
internal sealed partial class PtxDecoder(
    string where, Dictionary<string, (int Slot, int Width)> registers, Dictionary<string, long> shared,
    Dictionary<string, int> labels, PtxParam[] parameters, int firstConstantSlot)
{
    private readonly Dictionary<ulong, int> _constants = [];
    private string _text = "";

    /// <summary>The register-file template: zeros, then the constants at their slots.</summary>
    public ulong[] BuildTemplate()
    {
        var template = new ulong[firstConstantSlot + _constants.Count];
        foreach (var (value, slot) in _constants) template[slot] = value;
        return template;
    }

    public Instruction Decode(string text)
    {
        _text = text;
        var ins = new Instruction { Guard = -1 };
        if (text.StartsWith('@'))
        {
            int space = text.IndexOf(' ');
            string guard = text[1..space];
            ins.GuardNegated = guard.StartsWith('!');
            ins.Guard = Register(guard.TrimStart('!'), 1);
            text = text[(space + 1)..].Trim();
        }
        int split = text.IndexOf(' ');
        string opcode = split < 0 ? text : text[..split];
        string[] ops = split < 0 ? [] : text[(split + 1)..].Split(',', StringSplitOptions.TrimEntries);
        string[] parts = opcode.Split('.');
        var mods = new List<string>(parts[1..]);
        if (mods.Remove("ftz")) ins.Ftz = true;
        foreach (string m in mods)
            if (m is "sat" or "cc" or "v2" or "v4" or "volatile" or "relaxed" or "acquire" or "release")
                throw Fail($"unsupported modifier '.{m}' in '{opcode}'");
        DecodeBody(ref ins, parts[0], mods, ops, opcode);
        return ins;
    }

    private void DecodeBody(ref Instruction ins, string stem, List<string> mods, string[] ops, string opcode)
    {
        string type = mods.Count > 0 ? mods[^1] : "";
        int w = type is "pred" or "b32" or "u32" or "s32" or "f32" or "b64" or "u64" or "s64" ? Width(type) : 0;
        switch (stem)
        {
            case "mov":
                Expect(ops, 2, mods, 1);
                Set(ref ins, Op.Mov, Register(ops[0], w), Source(ops[1], type));
                break;
            case "selp":
                Expect(ops, 4, mods, 1);
                Set(ref ins, Op.Selp, Register(ops[0], w), Source(ops[1], type), Source(ops[2], type), Register(ops[3], 1));
                break;
            case "add" or "sub" when type == "f32":
                RequireRn(mods, opcode, 2);
                Binary(ref ins, stem == "add" ? Op.AddF : Op.SubF, ops, type);
                break;
            case "add" or "sub":
                Expect(ops, 3, mods, 1);
                Binary(ref ins, w == 64 ? (stem == "add" ? Op.Add64 : Op.Sub64) : (stem == "add" ? Op.Add32 : Op.Sub32), ops, type);
                break;
            case "mul" when type == "f32":
                RequireRn(mods, opcode, 2);
                Binary(ref ins, Op.MulF, ops, type);
                break;
            case "mul":
                Expect(ops, 3, mods, 2);
                DecodeMul(ref ins, mods[0], type, ops, opcode);
                break;
            case "mad":
                Expect(ops, 4, mods, 2);
                if (mods[0] != "lo" || type == "f32") throw Fail($"unsupported '{opcode}' (use mad.lo for integers, fma.rn.f32 for floats)");
                Ternary(ref ins, w == 64 ? Op.MadLo64 : Op.MadLo32, ops, type);
                break;
            case "fma":
                if (type != "f32") throw Fail($"unsupported '{opcode}' (only fma.rn.f32)");
                RequireRn(mods, opcode, 2);
                Ternary(ref ins, Op.FmaF, ops, type);
                break;
            case "div" when type == "f32":
                RequireRn(mods, opcode, 2);
                Binary(ref ins, Op.DivF, ops, type);
                break;
            case "div" or "rem":
                Expect(ops, 3, mods, 1);
                bool signed = type == "s32";
                if (w != 32) throw Fail($"unsupported '{opcode}' (only 32-bit integer division)");
                Binary(ref ins, stem == "div" ? (signed ? Op.DivS32 : Op.DivU32) : (signed ? Op.RemS32 : Op.RemU32), ops, type);
                break;
            case "min" or "max":
                Expect(ops, 3, mods, 1);
                bool isMin = stem == "min";
                Op op = type switch
                {
                    "f32" => isMin ? Op.MinF : Op.MaxF,
                    "s32" => isMin ? Op.MinS32 : Op.MaxS32,
                    "u32" => isMin ? Op.MinU32 : Op.MaxU32,
                    "s64" => isMin ? Op.MinS64 : Op.MaxS64,
                    _ => throw Fail($"unsupported '{opcode}'"),
                };
                Binary(ref ins, op, ops, type);
                break;
            case "neg" or "abs":
                Expect(ops, 2, mods, 1);
                Op unary = (stem, type) switch
                {
                    ("neg", "f32") => Op.NegF,
                    ("abs", "f32") => Op.AbsF,
                    ("neg", "s32") => Op.Neg32,
                    ("abs", "s32") => Op.Abs32,
                    _ => throw Fail($"unsupported '{opcode}'"),
                };
                Set(ref ins, unary, Register(ops[0], w), Source(ops[1], type));
                break;
            case "and" or "or" or "xor":
                Expect(ops, 3, mods, 1);
                if (type is not ("b32" or "b64" or "pred")) throw Fail($"unsupported '{opcode}' (bitwise ops take .b32, .b64 or .pred)");
                Binary(ref ins, (stem, w) switch
                {
                    ("and", 64) => Op.And64, ("or", 64) => Op.Or64, ("xor", 64) => Op.Xor64,
                    ("and", _) => Op.And32, ("or", _) => Op.Or32, _ => Op.Xor32,
                }, ops, type);
                break;
            case "not":
                Expect(ops, 2, mods, 1);
                if (type is not ("b32" or "pred")) throw Fail($"unsupported '{opcode}' (not takes .b32 or .pred)");
                Set(ref ins, type == "pred" ? Op.NotPred : Op.Not32, Register(ops[0], w), Source(ops[1], type));
                break;
            case "shl" or "shr":
                Expect(ops, 3, mods, 1);
                Op shift = (stem, type) switch
                {
                    ("shl", "b32") => Op.Shl32,
                    ("shl", "b64") => Op.Shl64,
                    ("shr", "b32" or "u32") => Op.ShrU32,
                    ("shr", "s32") => Op.ShrS32,
                    ("shr", "b64" or "u64") => Op.ShrU64,
                    ("shr", "s64") => Op.ShrS64,
                    _ => throw Fail($"unsupported '{opcode}'"),
                };
                Set(ref ins, shift, Register(ops[0], w), Source(ops[1], type), Source(ops[2], "u32"));
                break;
            case "sqrt" or "rcp" or "rsqrt" or "ex2" or "lg2":
                DecodeMath(ref ins, stem, mods, ops, opcode);
                break;
            case "setp":
                DecodeSetp(ref ins, mods, ops, opcode);
                break;
            case "cvt":
                DecodeCvt(ref ins, mods, ops, opcode);
                break;
            case "cvta":
                Expect(ops, 2, mods, 3);
                if (mods[0] != "to" || mods[1] != "global" || type != "u64") throw Fail($"unsupported '{opcode}' (only cvta.to.global.u64)");
                Set(ref ins, Op.Mov, Register(ops[0], 64), Source(ops[1], "u64"));
                break;
            case "ld" or "st":
                DecodeMemory(ref ins, stem == "ld", mods, ops, opcode);
                break;
            case "bra":
                if (ops.Length != 1 || mods.Count > 1 || mods.Count == 1 && mods[0] != "uni") throw Fail($"unsupported '{opcode}'");
                if (!labels.TryGetValue(ops[0], out int target)) throw Fail($"undefined label '{ops[0]}'");
                ins.Op = Op.Bra;
                ins.Imm = target;
                break;
            case "bar" or "barrier":
                if (mods.Count != 1 || mods[0] != "sync" || ops.Length != 1) throw Fail($"unsupported '{opcode}' (only bar.sync with one barrier id)");
                ins.Op = Op.Bar;
                ins.Imm = (long)Literal(ops[0], "u32");
                if (ins.Imm is < 0 or > 15) throw Fail($"barrier id must be 0..15, got {ins.Imm}");
                break;
            case "shfl":
                Expect(ops, 5, mods, 3);
                if (mods[0] != "sync" || type != "b32") throw Fail($"unsupported '{opcode}' (only shfl.sync.<mode>.b32)");
                if (ops[0].Contains('|')) throw Fail("shfl with a predicate destination is not supported");
                ins.Mode = (byte)(mods[1] switch
                {
                    "up" => ShflMode.Up, "down" => ShflMode.Down, "bfly" => ShflMode.Bfly, "idx" => ShflMode.Idx,
                    _ => throw Fail($"unknown shfl mode '.{mods[1]}'"),
                });
                Set(ref ins, Op.Shfl, Register(ops[0], 32), Source(ops[1], "b32"), Source(ops[2], "u32"), Source(ops[3], "u32"));
                ins.E = Source(ops[4], "u32");
                break;
            case "vote":
                Expect(ops, 3, mods, 3);
                if (mods[0] != "sync") throw Fail($"unsupported '{opcode}' (only vote.sync)");
                (Op vote, int dWidth) = (mods[1], type) switch
                {
                    ("all", "pred") => (Op.VoteAll, 1),
                    ("any", "pred") => (Op.VoteAny, 1),
                    ("ballot", "b32") => (Op.VoteBallot, 32),
                    _ => throw Fail($"unsupported '{opcode}'"),
                };
                Set(ref ins, vote, Register(ops[0], dWidth), Register(ops[1].TrimStart('!'), 1));
                if (ops[1].StartsWith('!')) throw Fail("negated vote operands are not supported");
                ins.E = Source(ops[2], "u32");
                break;
            case "ret" or "exit":
                if (ops.Length != 0 || mods.Count != 0) throw Fail($"unsupported '{opcode}'");
                ins.Op = Op.Exit;
                break;
            default:
                throw Fail($"unsupported instruction '{opcode}'");
        }
    }

    private void DecodeMul(ref Instruction ins, string mode, string type, string[] ops, string opcode)
    {
        Op op = (mode, type) switch
        {
            ("lo", "s32" or "u32") => Op.MulLo32,
            ("lo", "s64" or "u64") => Op.MulLo64,
            ("hi", "u32") => Op.MulHiU32,
            ("hi", "s32") => Op.MulHiS32,
            ("wide", "s32") => Op.MulWideS32,
            ("wide", "u32") => Op.MulWideU32,
            _ => throw Fail($"unsupported '{opcode}'"),
        };
        int dWidth = mode == "wide" || type.EndsWith("64") ? 64 : 32;
        Set(ref ins, op, Register(ops[0], dWidth), Source(ops[1], type), Source(ops[2], type));
    }

    private void DecodeMath(ref Instruction ins, string stem, List<string> mods, string[] ops, string opcode)
    {
        Expect(ops, 2, mods, 2);
        if (mods[^1] != "f32") throw Fail($"unsupported '{opcode}' (only .f32)");
        Op op = (stem, mods[0]) switch
        {
            ("sqrt", "rn") => Op.SqrtF,
            ("rcp", "rn") => Op.RcpF,
            ("rcp", "approx") => Op.RcpApproxF,
            ("rsqrt", "approx") => Op.RsqrtApproxF,
            ("ex2", "approx") => Op.Ex2ApproxF,
            ("lg2", "approx") => Op.Lg2ApproxF,
            _ => throw Fail($"unsupported '{opcode}'"),
        };
        Set(ref ins, op, Register(ops[0], 32), Source(ops[1], "f32"));
    }

    private void DecodeSetp(ref Instruction ins, List<string> mods, string[] ops, string opcode)
    {
        Expect(ops, 3, mods, 2);
        if (ops[0].Contains('|')) throw Fail("setp with two predicate destinations is not supported");
        string type = mods[1];
        Cmp cmp = mods[0] switch
        {
            "eq" => Cmp.Eq, "ne" => Cmp.Ne, "lt" or "lo" => Cmp.Lt, "le" or "ls" => Cmp.Le, "gt" or "hi" => Cmp.Gt, "ge" or "hs" => Cmp.Ge,
            "equ" => Cmp.Equ, "neu" => Cmp.Neu, "ltu" => Cmp.Ltu, "leu" => Cmp.Leu, "gtu" => Cmp.Gtu, "geu" => Cmp.Geu,
            "num" => Cmp.Num, "nan" => Cmp.Nan,
            _ => throw Fail($"unknown comparison '.{mods[0]}' in '{opcode}'"),
        };
        Op op = type switch
        {
            "f32" => Op.SetpF,
            "s32" => Op.SetpS32,
            "u32" or "b32" => Op.SetpU32,
            "s64" => Op.SetpS64,
            "u64" or "b64" => Op.SetpU64,
            _ => throw Fail($"unsupported '{opcode}'"),
        };
        if (op != Op.SetpF && cmp > Cmp.Ge) throw Fail($"'.{mods[0]}' compares floats only, got '{opcode}'");
        ins.Mode = (byte)cmp;
        Set(ref ins, op, Register(ops[0], 1), Source(ops[1], type), Source(ops[2], type));
    }

    private void DecodeCvt(ref Instruction ins, List<string> mods, string[] ops, string opcode)
    {
        if (ops.Length != 2 || mods.Count is < 2 or > 3) throw Fail($"malformed '{opcode}'");
        string to = mods[^2], from = mods[^1], rounding = mods.Count == 3 ? mods[0] : "";
        bool toFloat = to == "f32", fromFloat = from == "f32";
        Op op;
        if (toFloat && fromFloat) op = Op.CvtF32F32;
        else if (toFloat) op = from == "s32" ? Op.CvtF32S32 : from == "u32" ? Op.CvtF32U32 : throw Fail($"unsupported '{opcode}'");
        else if (fromFloat) op = to == "s32" ? Op.CvtS32F32 : to == "u32" ? Op.CvtU32F32 : throw Fail($"unsupported '{opcode}'");
        else op = (to, from) switch
        {
            ("s64" or "u64", "s32") => Op.CvtS64S32,
            ("s64" or "u64", "u32") => Op.CvtU64U32,
            ("s32" or "u32", "s64" or "u64") => Op.CvtU32U64,
            _ => throw Fail($"unsupported '{opcode}'"),
        };
        bool needsIntegerRounding = fromFloat; // float->int and float->float-integer take .rni/.rzi/.rmi/.rpi
        bool needsRounding = toFloat && !fromFloat;
        if (needsIntegerRounding || needsRounding)
        {
            string[] allowed = needsIntegerRounding ? ["rni", "rzi", "rmi", "rpi"] : ["rn"];
            int mode = Array.IndexOf(allowed, rounding);
            if (mode < 0) throw Fail($"'{opcode}' needs an explicit rounding modifier ({string.Join(", ", allowed.Select(a => "." + a))})");
            ins.Mode = (byte)mode;
        }
        else if (rounding.Length != 0) throw Fail($"'{opcode}': integer conversions take no rounding modifier");
        Set(ref ins, op, Register(ops[0], Width(to)), Source(ops[1], from));
    }

    private void DecodeMemory(ref Instruction ins, bool load, List<string> mods, string[] ops, string opcode)
    {
        mods.Remove("nc");
        if (mods.Count != 2) throw Fail($"unsupported '{opcode}' (expected {(load ? "ld" : "st")}.<space>.<type>; generic addressing is not supported)");
        string space = mods[0], type = mods[1];
        int w = Width(type);
        if (w != 32 && w != 64) throw Fail($"unsupported access type '.{type}' in '{opcode}' (only 32/64-bit)");
        if (ops.Length != 2) throw Fail($"'{opcode}' takes two operands");
        string address = load ? ops[1] : ops[0], value = load ? ops[0] : ops[1];
        if (space == "param")
        {
            if (!load) throw Fail("stores to .param are not supported");
            var (name, offset) = SplitAddress(address);
            var p = parameters.FirstOrDefault(x => x.Name == name);
            if (p.Name is null) throw Fail($"unknown parameter '{name}'");
            if (offset < 0 || offset + w / 8 > p.Size) throw Fail($"load of {w / 8} bytes at offset {offset} of parameter '{name}' ({p.Size} bytes)");
            ins.Op = w == 64 ? Op.LdParam64 : Op.LdParam32;
            ins.D = Register(value, w);
            ins.Imm = p.Offset + offset;
            return;
        }
        Op op = (space, load, w) switch
        {
            ("global", true, 32) => Op.LdGlobal32, ("global", true, _) => Op.LdGlobal64,
            ("global", false, 32) => Op.StGlobal32, ("global", false, _) => Op.StGlobal64,
            ("shared", true, 32) => Op.LdShared32, ("shared", true, _) => Op.LdShared64,
            ("shared", false, 32) => Op.StShared32, ("shared", false, _) => Op.StShared64,
            _ => throw Fail($"unsupported state space '.{space}' in '{opcode}'"),
        };
        var (baseName, off) = SplitAddress(address);
        ins.Op = op;
        ins.A = baseName.StartsWith('%') ? Register(baseName, space == "shared" && registers.TryGetValue(baseName, out var r) && r.Width == 32 ? 32 : 64) : Source(baseName, "u64");
        ins.Imm = off;
        if (load) ins.D = Register(value, w);
        else ins.B = Source(value, type);
    }
}
