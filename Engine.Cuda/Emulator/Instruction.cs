namespace Engine.Cuda.Emulator;

/// <summary>
/// Pre-decoded operations. The type suffix is folded into the opcode (Add32, Add64, AddF), so execution never looks
/// at types. 32-bit values live zero-extended in 64-bit register slots; f32 values as their bit pattern.
/// </summary>
internal enum Op : byte
{
    Mov, Selp,
    Add32, Sub32, MulLo32, MulHiU32, MulHiS32, MadLo32, MulWideS32, MulWideU32, DivS32, DivU32, RemS32, RemU32,
    MinS32, MinU32, MaxS32, MaxU32, Neg32, Abs32, And32, Or32, Xor32, Not32, Shl32, ShrU32, ShrS32, NotPred,
    Add64, Sub64, MulLo64, MadLo64, And64, Or64, Xor64, Shl64, ShrU64, ShrS64, MinS64, MaxS64,
    AddF, SubF, MulF, FmaF, DivF, NegF, AbsF, MinF, MaxF, SqrtF, RcpF, RcpApproxF, RsqrtApproxF, Ex2ApproxF, Lg2ApproxF,
    SetpF, SetpS32, SetpU32, SetpS64, SetpU64,
    CvtS64S32, CvtU64U32, CvtU32U64, CvtF32S32, CvtF32U32, CvtS32F32, CvtU32F32, CvtF32F32,
    LdParam32, LdParam64, LdGlobal32, LdGlobal64, StGlobal32, StGlobal64, LdShared32, LdShared64, StShared32, StShared64,
    Bra, Bar, Shfl, VoteAll, VoteAny, VoteBallot, Exit,
}

/// <summary>Comparison of setp (Ltu etc. are the unordered float forms: true when either operand is NaN).</summary>
internal enum Cmp : byte { Eq, Ne, Lt, Le, Gt, Ge, Equ, Neu, Ltu, Leu, Gtu, Geu, Num, Nan }

/// <summary>Rounding of cvt: to nearest even, toward zero, down (floor), up (ceiling).</summary>
internal enum Rounding : byte { Rn, Rz, Rm, Rp }

internal enum ShflMode : byte { Up, Down, Bfly, Idx }

/// <summary>
/// One decoded instruction. Operands are register-slot indices (immediates are materialized as constant slots),
/// <see cref="Imm"/> is an address offset, a param offset, a branch target or a sub-mode.
/// </summary>
internal struct Instruction
{
    public Op Op;
    /// <summary>Cmp for setp, Rounding for cvt, ShflMode for shfl.</summary>
    public byte Mode;
    public bool Ftz;
    public bool GuardNegated;
    /// <summary>Guard predicate slot, or -1 when the instruction always runs.</summary>
    public int Guard;
    public int D, A, B, C, E;
    public long Imm;
}
