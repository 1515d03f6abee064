using Engine.Tests.Core;
using Engine.Tests.Errors;
using Engine.Tests.Primitives;
using Engine.Tests.Support;

namespace Engine.Tests;

// The CPU backend's run of every backend-dependent fixture. Another backend adds the same list with its own factory.
public sealed class CpuGemmTests : GemmTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuElementwiseTests : ElementwiseTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuSoftmaxTests : SoftmaxTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuLossTests : LossTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuConv2dTests : Conv2dTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuPad2dTests : Pad2dTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuPool2dTests : Pool2dTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuOptimizerTests : OptimizerTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuRandomTests : RandomTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuTextbookTests : TextbookTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuAutogradTests : AutogradTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuTensorLifetimeTests : TensorLifetimeTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuGraphRecyclingTests : GraphRecyclingTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuModuleTests : ModuleTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuShapeErrorTests : ShapeErrorTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuDataLoaderTests : DataLoaderTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
public sealed class CpuLayerTests : LayerTests { protected override IBackend CreateBackend() => CpuBackends.TwoThreads(); }
