using Engine.Cuda;
using Engine.Cuda.Emulator;
using NUnit.Framework;
using static Engine.Tests.Cuda.EmulatorHarness;

namespace Engine.Tests.Cuda;

/// <summary>Barriers, warp collectives and the emulator's error reports (bounds, alignment, races, rejects).</summary>
[TestFixture]
public class EmulatorSchedulingTests
{
    [Test]
    public void BarrierReleasesWhenEveryLiveThreadArrivesEvenIfSomeExitedEarly()
    {
        // Threads 0..39 exit at once; the others write tid to shared, sync, then read their right neighbour's slot.
        const int threads = 96;
        string body = """
                setp.lt.u32 %p1, %r0, 40;
                @%p1 bra DONE;
                mov.u64 %rd6, buf;
                mul.wide.u32 %rd7, %r0, 4;
                add.s64 %rd8, %rd6, %rd7;
                st.shared.u32 [%rd8], %r0;
                bar.sync 0;
                add.u32 %r1, %r0, 1;
                setp.ge.u32 %p2, %r1, 96;
                selp.u32 %r1, 40, %r1, %p2;
                mul.wide.u32 %rd9, %r1, 4;
                add.s64 %rd10, %rd6, %rd9;
                ld.shared.u32 %r2, [%rd10];
                st.global.u32 [%rd4], %r2;
            DONE:
            """;
        var result = Run(body, [0], threads, threads, ".shared .align 4 .b32 buf[96];");
        for (int t = 0; t < threads; t++)
        {
            uint expected = t < 40 ? 0xDEADBEEF : (uint)(t + 1 >= threads ? 40 : t + 1);
            Assert.That(result[t], Is.EqualTo(expected), $"thread {t}");
        }
    }

    [Test]
    public void ThreadsAtDifferentBarrierInstructionsAreReportedWithEveryPosition()
    {
        string body = """
                setp.lt.u32 %p1, %r0, 16;
                @%p1 bra LOW;
                bar.sync 0;
                bra DONE;
            LOW:
                bar.sync 0;
            DONE:
            """;
        var e = Assert.Throws<CudaException>(() => Run(body, [0], 1, 64))!;
        Assert.That(e.Message, Does.Contain("barrier divergence in k"));
        Assert.That(e.Message, Does.Contain("threads 0-15: at barrier"));
        Assert.That(e.Message, Does.Contain("threads 16-63: at barrier"));
    }

    [Test]
    public void ACollectiveWaitingOnLanesStuckAtABarrierIsADeadlock()
    {
        string body = """
                setp.eq.u32 %p1, %r0, 0;
                @%p1 bra LANE0;
                bar.sync 0;
                bra DONE;
            LANE0:
                shfl.sync.bfly.b32 %r2, %r0, 1, 31, -1;
            DONE:
            """;
        var e = Assert.Throws<CudaException>(() => Run(body, [0], 1, 32))!;
        Assert.That(e.Message, Does.Contain("deadlock"));
        Assert.That(e.Message, Does.Contain("thread 0: at collective"));
        Assert.That(e.Message, Does.Contain("threads 1-31: at barrier"));
    }

    [TestCase("bfly", 1, 31)]
    [TestCase("bfly", 16, 31)]
    [TestCase("down", 3, 31)]
    [TestCase("up", 5, 0)]
    [TestCase("idx", 7, 31)]
    [TestCase("bfly", 2, 0x1c1f)]
    public void ShuffleFollowsThePtxLaneRule(string mode, int b, int c)
    {
        string body = $"""
                mul.lo.u32 %r1, %r0, 10;
                shfl.sync.{mode}.b32 %r2, %r1, {b}, {c}, 0xffffffff;
                st.global.u32 [%rd4], %r2;
            """;
        var result = Run(body, [0], 64, 64);
        for (int t = 0; t < 64; t++)
        {
            int lane = t % 32, clamp = c & 0x1f, segment = (c >> 8) & 0x1f;
            int minLane = lane & segment, maxLane = minLane | (clamp & ~segment);
            (int j, bool ok) = mode switch
            {
                "up" => (lane - b, lane - b >= maxLane),
                "down" => (lane + b, lane + b <= maxLane),
                "bfly" => (lane ^ b, (lane ^ b) <= maxLane),
                _ => (minLane | (b & ~segment), (minLane | (b & ~segment)) <= maxLane),
            };
            int source = t - lane + (ok ? j : lane);
            Assert.That(result[t], Is.EqualTo((uint)(source * 10)), $"thread {t}");
        }
    }

    [Test]
    public void ButterflyReductionSumsAWarp()
    {
        string body = """
                cvt.rn.f32.u32 %f1, %r0;
                shfl.sync.bfly.b32 %r2, %f1, 16, 31, -1;
                mov.b32 %f2, %r2;
                add.rn.f32 %f1, %f1, %f2;
                shfl.sync.bfly.b32 %r2, %f1, 8, 31, -1;
                mov.b32 %f2, %r2;
                add.rn.f32 %f1, %f1, %f2;
                shfl.sync.bfly.b32 %r2, %f1, 4, 31, -1;
                mov.b32 %f2, %r2;
                add.rn.f32 %f1, %f1, %f2;
                shfl.sync.bfly.b32 %r2, %f1, 2, 31, -1;
                mov.b32 %f2, %r2;
                add.rn.f32 %f1, %f1, %f2;
                shfl.sync.bfly.b32 %r2, %f1, 1, 31, -1;
                mov.b32 %f2, %r2;
                add.rn.f32 %f1, %f1, %f2;
                st.global.f32 [%rd4], %f1;
            """;
        var result = Run(body, [0], 32, 32);
        Assert.That(result.Select(Float), Is.All.EqualTo(Enumerable.Range(0, 32).Sum()));
    }

    [Test]
    public void ShuffleWithAnExitedLaneInTheMaskIsReported()
    {
        string body = """
                setp.eq.u32 %p1, %r0, 5;
                @%p1 bra DONE;
                shfl.sync.down.b32 %r2, %r0, 1, 31, -1;
            DONE:
            """;
        var e = Assert.Throws<CudaException>(() => Run(body, [0], 1, 32))!;
        Assert.That(e.Message, Does.Contain("lane 5").And.Contain("exited"));
    }

    [Test]
    public void OutOfBoundsStoreNamesKernelThreadAndAddress()
    {
        // 40 threads store to out[tid] but out holds 32 words: thread 32 of CTA 1 (the first to run past) fails.
        var e = Assert.Throws<CudaException>(() => Run("st.global.u32 [%rd4], %r0;", [0], 32, 40))!;
        Assert.That(e.ErrorName, Is.EqualTo("CUDA_ERROR_LAUNCH_FAILED"));
        Assert.That(e.Message, Does.Contain("k: store of 4 bytes at global address 0x"));
        Assert.That(e.Message, Does.Contain("out of bounds"));
        Assert.That(e.Message, Does.Contain("offset 128"));
        Assert.That(e.Message, Does.Contain("tid (32,0,0)"));
    }

    [Test]
    public void MisalignedLoadIsReported()
    {
        var e = Assert.Throws<CudaException>(() => Run("ld.global.u32 %r2, [%rd5+2];", [0, 0], 1))!;
        Assert.That(e.Message, Does.Contain("misaligned 4-byte load"));
    }

    [Test]
    public void SharedMemoryRaceBetweenBarriersIsReported()
    {
        // Every thread writes slot 0 without a barrier in between.
        var e = Assert.Throws<CudaException>(() => Run("mov.u64 %rd6, buf;\nst.shared.u32 [%rd6], %r0;", [0], 1, 2, ".shared .align 4 .b32 buf[4];"))!;
        Assert.That(e.Message, Does.Contain("shared-memory race"));
    }

    /// <summary>Thread 0 stores slot 0 and thread 1 loads it with no barrier between: a read-after-write race.</summary>
    [Test]
    public void SharedMemoryReadOfAnUnsynchronisedWriteIsReported()
    {
        const string body = "mov.u64 %rd6, buf;\nsetp.eq.u32 %p1, %r0, 0;\n@%p1 st.shared.u32 [%rd6], %r0;\n@!%p1 ld.shared.u32 %r2, [%rd6];";
        var e = Assert.Throws<CudaException>(() => Run(body, [0], 1, 2, ".shared .align 4 .b32 buf[4];"))!;
        Assert.That(e.Message, Does.Contain("shared-memory race").And.Contain("was written by thread 0"));
    }

    /// <summary>Thread 0 loads slot 0 and thread 1 then stores it with no barrier between: a write-after-read race.</summary>
    [Test]
    public void SharedMemoryWriteOverAnUnsynchronisedReadIsReported()
    {
        const string body = "mov.u64 %rd6, buf;\nsetp.eq.u32 %p1, %r0, 0;\n@%p1 ld.shared.u32 %r2, [%rd6];\n@!%p1 st.shared.u32 [%rd6], %r0;";
        var e = Assert.Throws<CudaException>(() => Run(body, [0], 1, 2, ".shared .align 4 .b32 buf[4];"))!;
        Assert.That(e.Message, Does.Contain("shared-memory race").And.Contain("was read by thread 0"));
    }

    /// <summary>The same write then read, with bar.sync between, is no race: thread 1 sees thread 0's value.</summary>
    [Test]
    public void ABarrierBetweenTheWriteAndTheReadIsNoRace()
    {
        const string body = """
                mov.u64 %rd6, buf;
                setp.eq.u32 %p1, %r0, 0;
                mov.u32 %r3, 1234;
                @%p1 st.shared.u32 [%rd6], %r3;
                bar.sync 0;
                @%p1 bra DONE;
                ld.shared.u32 %r2, [%rd6];
                st.global.u32 [%rd4], %r2;
            DONE:
            """;
        var result = Run(body, [0], 2, 2, ".shared .align 4 .b32 buf[4];");
        Assert.That(result[1], Is.EqualTo(1234u), "thread 1 reads thread 0's store after the barrier");
    }

    [Test]
    public void TwoThreadsStoringOneGlobalWordIsReported()
    {
        var e = Assert.Throws<CudaException>(() => Run("st.global.u32 [%rd1], %r0;", [0], 1, 2))!;
        Assert.That(e.Message, Does.Contain("write race"));
    }

    [TestCase("atom.global.add.f32 %f1, [%rd4], %f2;", "unsupported instruction 'atom.global.add.f32'")]
    [TestCase("add.f32 %f1, %f1, %f2;", "needs the explicit .rn rounding modifier")]
    [TestCase("tanh.approx.f32 %f1, %f2;", "unsupported instruction 'tanh.approx.f32'")]
    [TestCase("ld.u32 %r1, [%rd4];", "generic addressing is not supported")]
    [TestCase("add.s32 %r1, %rd1, 1;", "register '%rd1' is 64-bit, the instruction needs 32-bit")]
    [TestCase("cvt.s32.f32 %r1, %f1;", "needs an explicit rounding modifier")]
    [TestCase("bra NOWHERE;", "undefined label 'NOWHERE'")]
    public void UnsupportedPtxIsRejectedByName(string line, string message)
    {
        var e = Assert.Throws<CudaException>(() => Run(line, [0], 1))!;
        Assert.That(e.ErrorName, Is.EqualTo("CUDA_ERROR_INVALID_PTX"));
        Assert.That(e.Message, Does.Contain(message));
    }

    [Test]
    public void ArgumentsAreCheckedAgainstTheDeclaredParams()
    {
        using var driver = new EmulatedDriver();
        var kernel = driver.LoadModule("test", Kernel("")).Function("k");
        ulong p = driver.Allocate(16);
        var e = Assert.Throws<CudaException>(() => driver.Launch(kernel, 1, 1, 0, new KernelArgs().Pointer(p).Int(3)))!;
        Assert.That(e.Message, Does.Contain("parameter 1 '.u64 in' is 8 bytes, got a 4-byte argument"));
        e = Assert.Throws<CudaException>(() => driver.Launch(kernel, 1, 1, 0, new KernelArgs().Pointer(p)))!;
        Assert.That(e.Message, Does.Contain("takes 2 parameters"));
    }

    [Test]
    public void EndlessLoopIsStoppedWithThePosition()
    {
        using var driver = new EmulatedDriver { InstructionBudget = 1_000_000 };
        string ptx = Kernel("LOOP:\nadd.s32 %r1, %r1, 1;\nbra LOOP;");
        var e = Assert.Throws<CudaException>(() => Run(driver, ptx, [0], 1, 1, 1))!;
        Assert.That(e.Message, Does.Contain("ran more than 1000000 instructions (an endless loop?)"));
        Assert.That(e.Message, Does.Contain("tid (0,0,0)"));
    }
}
