using BenchmarkDotNet.Running;

// dotnet run -c Release --project Engine.Bench -- --filter '*Gemm*'   (or '*Conv2d*', '*LeNet*', '*')
BenchmarkSwitcher.FromAssembly(typeof(Engine.Bench.GemmBench).Assembly).Run(args);
