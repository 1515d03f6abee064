using NUnit.Framework;
using Engine.Tests.Support;

namespace Engine.Tests.Core;

/// <summary>Step scopes release intermediates, kept tensors survive, reshapes share storage.</summary>
public abstract class TensorLifetimeTests : BackendFixture
{
    [Test]
    public void ScopeReleasesIntermediatesAndKeepsKeptTensors()
    {
        Tensor temporary, kept;
        using (Scope.Begin())
        {
            temporary = Upload(new double[] { 1, 2, 3 }, 3);
            kept = Engine.Ops.Scale(temporary, 2).Keep();
        }
        Assert.That(kept.ToArray(), Is.EqualTo(new[] { 2f, 4f, 6f }));
        var e = Assert.Throws<ObjectDisposedException>(() => temporary.ToArray());
        Assert.That(e!.Message, Does.Contain("used after it was released").And.Contain("(3)").And.Contain("Keep()"));
    }

    [Test]
    public void NestedScopesReleaseOnlyTheirOwnTensors()
    {
        using var outer = Scope.Begin();
        var a = Upload(new double[] { 1 }, 1);
        Tensor b;
        using (Scope.Begin()) b = Engine.Ops.Scale(a, 2);
        Assert.That(a.ToArray(), Is.EqualTo(new[] { 1f }), "the outer scope's tensor survives the inner scope");
        Assert.Throws<ObjectDisposedException>(() => b.ToArray());
    }

    /// <summary>Parameters and their gradients outlive the step scope a training step runs in.</summary>
    [Test]
    public void ParametersAndGradientsSurviveATrainingStep()
    {
        var layer = new Engine.Nn.Linear(3, 2, generator: new Generator(1));
        layer.To(Backend);
        var sgd = new Engine.Optim.Sgd(layer.Parameters(), 0.1f, momentum: 0.9f);
        var before = layer.Weight.Value.ToArray();
        using (Scope.Begin())
        {
            var loss = Engine.Ops.Sum(Engine.Ops.Square(layer.Forward(Upload(new double[] { 1, 2, 3 }, 1, 3))));
            loss.Backward();
            sgd.Step();
        }
        Assert.That(layer.Weight.Value.ToArray(), Is.Not.EqualTo(before), "the step changed the weights");
        Assert.That(layer.Weight.Grad!.ToArray(), Has.Length.EqualTo(6), "the gradient is still readable");
    }

    [Test]
    public void ReshapeAndFlattenShareStorage()
    {
        var x = Upload(Enumerable.Range(0, 24).Select(i => (double)i).ToArray(), 2, 3, 2, 2);
        var r = Engine.Ops.Reshape(x, 4, -1);
        var f = Engine.Ops.Flatten(x);
        Assert.That(r.Shape, Is.EqualTo(new Shape(4, 6)));
        Assert.That(f.Shape, Is.EqualTo(new Shape(2, 12)));
        x.CopyFrom(Enumerable.Repeat(7f, 24).ToArray());
        Assert.That(r.ToArray(), Is.All.EqualTo(7f), "a write through the original shows in the reshape");
        Assert.That(f.ToArray(), Is.All.EqualTo(7f), "and in the flattened view");
    }

    /// <summary>A reshape keeps its storage alive after the original is disposed (shared reference count).</summary>
    [Test]
    public void ReshapeKeepsStorageAliveAfterTheOriginalIsDisposed()
    {
        var x = Upload(new double[] { 1, 2, 3, 4 }, 2, 2);
        var r = Engine.Ops.Reshape(x, 4);
        x.Dispose();
        Assert.That(r.ToArray(), Is.EqualTo(new[] { 1f, 2f, 3f, 4f }));
    }

    [Test]
    public void ReshapeGradientFlowsBackInTheOriginalShape()
    {
        var x = Upload(new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        x.RequiresGrad = true;
        Engine.Ops.Sum(Engine.Ops.Square(Engine.Ops.Reshape(x, 3, 2))).Backward();
        Assert.That(x.Grad!.Shape, Is.EqualTo(new Shape(2, 3)));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2f, 4f, 6f, 8f, 10f, 12f }));
    }
}
