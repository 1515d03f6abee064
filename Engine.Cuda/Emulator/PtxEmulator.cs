using System.Text;

namespace Engine.Cuda.Emulator;

internal enum ThreadState : byte { Ready, AtBarrier, AtCollective, Exited }

/// <summary>
/// Runs decoded PTX kernels on the CPU. CTAs run one after another; inside a CTA each thread runs until it reaches
/// bar.sync, a warp collective (shfl.sync, vote.sync) or exit. A barrier releases when every thread that has not
/// exited waits at it; a collective runs when every lane of its member mask waits at it. Threads waiting at
/// different barriers, a collective whose lanes exited, or nothing left runnable are reported with every thread's
/// position. Memory accesses are bounds-, alignment- and race-checked (PtxInterpreter.cs).
/// </summary>
internal sealed partial class PtxEmulator(DeviceMemory memory)
{
    internal const int WarpSize = 32, MaxThreadsPerBlock = 1024, MaxSharedBytes = 48 * 1024;
    internal const long DefaultInstructionBudget = 4L << 30;

    private readonly DeviceMemory _memory = memory;

    /// <summary>Perturb approximate instructions within their documented error (see <see cref="FloatSemantics"/>).</summary>
    public bool PerturbApproximations { get; set; } = true;
    /// <summary>Check shared-memory races between barriers and global write-write races within a launch.</summary>
    public bool CheckRaces { get; set; } = true;
    /// <summary>Instructions one launch may execute before it is stopped as an endless loop.</summary>
    public long InstructionBudget { get; set; } = DefaultInstructionBudget;
    /// <summary>Instructions executed by all launches so far.</summary>
    public long InstructionsExecuted => _executed;

    private PtxKernel _kernel = null!;
    private Instruction[] _code = [];
    private byte[] _params = [];
    private ulong[] _registers = [];
    private int[] _pc = [];
    private ThreadState[] _state = [];
    private byte[] _shared = [];
    private int[] _sharedWriter = [], _sharedWriteEpoch = [], _sharedReader = [], _sharedReadEpoch = [];
    private int _sharedBytes, _slots, _threads, _epoch;
    private long _launchId, _executed, _budget;
    private Dim3 _grid, _block, _cta;

    public void Launch(PtxKernel kernel, Dim3 grid, Dim3 block, int dynamicSharedBytes, byte[] parameters)
    {
        Validate(kernel, grid, block, dynamicSharedBytes, parameters);
        _kernel = kernel;
        _code = kernel.Code;
        _params = parameters;
        _slots = kernel.RegisterCount;
        _threads = block.Count;
        _grid = grid;
        _block = block;
        _sharedBytes = kernel.StaticSharedBytes + dynamicSharedBytes;
        if (_registers.Length < _threads * _slots) _registers = new ulong[_threads * _slots];
        if (_pc.Length < _threads)
        {
            _pc = new int[_threads];
            _state = new ThreadState[_threads];
        }
        if (_shared.Length < _sharedBytes)
        {
            _shared = new byte[_sharedBytes];
            int words = (_sharedBytes + 3) / 4;
            _sharedWriter = new int[words];
            _sharedWriteEpoch = new int[words];
            _sharedReader = new int[words];
            _sharedReadEpoch = new int[words];
        }
        _launchId++;
        _budget = InstructionBudget;
        for (int z = 0; z < grid.Z; z++)
            for (int y = 0; y < grid.Y; y++)
                for (int x = 0; x < grid.X; x++)
                {
                    _cta = new Dim3(x, y, z);
                    RunCta();
                }
    }

    private static void Validate(PtxKernel kernel, Dim3 grid, Dim3 block, int dynamicSharedBytes, byte[] parameters)
    {
        if (grid.X <= 0 || grid.Y <= 0 || grid.Z <= 0 || grid.Y > 65535 || grid.Z > 65535)
            throw new PtxException($"launch of {kernel.Name}: invalid grid {grid}");
        int limit = kernel.MaxThreads > 0 ? kernel.MaxThreads : MaxThreadsPerBlock;
        if (block.X <= 0 || block.Y <= 0 || block.Z <= 0 || block.Z > 64 || block.Count > limit)
            throw new PtxException($"launch of {kernel.Name}: invalid block {block} (at most {limit} threads)");
        if (dynamicSharedBytes < 0 || kernel.StaticSharedBytes + dynamicSharedBytes > MaxSharedBytes)
            throw new PtxException($"launch of {kernel.Name}: {kernel.StaticSharedBytes} static + {dynamicSharedBytes} dynamic shared bytes exceed {MaxSharedBytes}");
        if (parameters.Length != kernel.ParamBytes)
            throw new PtxException($"launch of {kernel.Name}: expected {kernel.ParamBytes} bytes of parameters ({string.Join(", ", kernel.Params.Select(p => $".{p.Type} {p.Name}"))}), got {parameters.Length}");
    }

    private void RunCta()
    {
        var template = _kernel.Template;
        for (int t = 0; t < _threads; t++)
        {
            var r = _registers.AsSpan(t * _slots, _slots);
            template.CopyTo(r);
            r[PtxKernel.TidX] = (uint)(t % _block.X);
            r[PtxKernel.TidY] = (uint)(t / _block.X % _block.Y);
            r[PtxKernel.TidZ] = (uint)(t / (_block.X * _block.Y));
            r[PtxKernel.NtidX] = (uint)_block.X;
            r[PtxKernel.NtidY] = (uint)_block.Y;
            r[PtxKernel.NtidZ] = (uint)_block.Z;
            r[PtxKernel.CtaidX] = (uint)_cta.X;
            r[PtxKernel.CtaidY] = (uint)_cta.Y;
            r[PtxKernel.CtaidZ] = (uint)_cta.Z;
            r[PtxKernel.NctaidX] = (uint)_grid.X;
            r[PtxKernel.NctaidY] = (uint)_grid.Y;
            r[PtxKernel.NctaidZ] = (uint)_grid.Z;
            r[PtxKernel.LaneId] = (uint)(t % WarpSize);
            r[PtxKernel.WarpId] = (uint)(t / WarpSize);
            _pc[t] = 0;
            _state[t] = ThreadState.Ready;
        }
        Array.Clear(_shared, 0, _sharedBytes);
        _epoch++;
        while (true)
        {
            for (int t = 0; t < _threads; t++)
                if (_state[t] == ThreadState.Ready) Run(t);
            if (RunCollectives()) continue;
            if (!ReleaseBarrier()) return;
        }
    }

    /// <summary>Releases the barrier every live thread waits at; false when every thread has exited.</summary>
    private bool ReleaseBarrier()
    {
        int first = -1;
        for (int t = 0; t < _threads; t++)
        {
            switch (_state[t])
            {
                case ThreadState.Exited: continue;
                case ThreadState.AtCollective:
                    throw Stuck($"deadlock in {_kernel.Name}: thread {DescribeThread(GlobalThreadId(t))} waits at a warp collective whose lanes are elsewhere");
                case ThreadState.Ready:
                    throw Stuck($"internal error in {_kernel.Name}: thread {t} is runnable at a barrier check");
            }
            if (first < 0) first = t;
            else if (_pc[t] != _pc[first] && _code[_pc[t]].Imm == _code[_pc[first]].Imm)
                throw Stuck($"barrier divergence in {_kernel.Name}: threads wait at different bar.sync instructions ({Where(_pc[first])} and {Where(_pc[t])})");
            else if (_pc[t] != _pc[first])
                throw Stuck($"deadlock in {_kernel.Name}: threads wait at different barriers ({Where(_pc[first])} and {Where(_pc[t])})");
        }
        if (first < 0) return false;
        _epoch++;
        for (int t = 0; t < _threads; t++)
        {
            if (_state[t] != ThreadState.AtBarrier) continue;
            _state[t] = ThreadState.Ready;
            _pc[t]++;
        }
        return true;
    }

    private string Where(int pc) => $"#{pc} '{_kernel.Source[pc]}'";

    /// <summary>An error with every thread's position, grouped into runs of consecutive threads.</summary>
    private PtxException Stuck(string message)
    {
        var text = new StringBuilder(message).Append($"; CTA {_cta}, thread positions:");
        int start = 0;
        for (int t = 1; t <= _threads; t++)
        {
            if (t < _threads && _state[t] == _state[start] && _pc[t] == _pc[start]) continue;
            string who = t - 1 == start ? $"thread {start}" : $"threads {start}-{t - 1}";
            string what = _state[start] switch
            {
                ThreadState.Exited => "exited",
                ThreadState.AtBarrier => $"at barrier {Where(_pc[start])}",
                ThreadState.AtCollective => $"at collective {Where(_pc[start])}",
                _ => $"runnable at {Where(_pc[start])}",
            };
            text.Append($"\n  {who}: {what}");
            start = t;
        }
        return new PtxException(text.ToString());
    }

    internal PtxException Fault(int t, int pc, string message) =>
        new($"{_kernel.Name}: {message}; thread {DescribeThread(GlobalThreadId(t))} at {Where(pc)}");

    private int GlobalThreadId(int t) => ((_cta.Z * _grid.Y + _cta.Y) * _grid.X + _cta.X) * _threads + t;

    private string DescribeThread(int globalId)
    {
        int t = globalId % _threads, cta = globalId / _threads;
        var tid = new Dim3(t % _block.X, t / _block.X % _block.Y, t / (_block.X * _block.Y));
        var ctaid = new Dim3(cta % _grid.X, cta / _grid.X % _grid.Y, cta / (_grid.X * _grid.Y));
        return $"ctaid {ctaid} tid {tid}";
    }
}
