using Engine.Models;
using Engine.Nn;
using Engine.Optim;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Core;

/// <summary>
/// The autograd graph's nodes are pooled and the backward pass and <see cref="Scope.BeginRecycling"/> steps reuse
/// tensor handles: these tests pin that reuse never changes a result, never lets a stale tensor run another graph or
/// read another tensor silently, and that ops recorded the older way (a closure) still work.
/// </summary>
public abstract class GraphRecyclingTests : BackendFixture
{
    /// <summary>
    /// After y1's backward its nodes go back to the pool and y2's forward reuses them; a second backward from y1 must
    /// still fail naming its op (not run y2's graph), and leave x's gradient as it was.
    /// </summary>
    [Test]
    public void AConsumedGraphDoesNotRunTheNodesItsSuccessorReused()
    {
        var x = Upload(new double[] { 1, 2 }, 2);
        x.RequiresGrad = true;
        var y1 = Engine.Ops.Sum(Engine.Ops.Square(x));
        y1.Backward();
        var y2 = Engine.Ops.Sum(Engine.Ops.Scale(x, 3f));
        var e = Assert.Throws<InvalidOperationException>(() => y1.Backward())!;
        Assert.That(e.Message, Does.Contain("'SumTo' was already used"));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2f, 4f }), "d/dx sum(x^2) = 2x, untouched by the failed backward");
        Assert.That(y1.IsLeaf, Is.False, "a consumed result is still a computed tensor");
        y2.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 5f, 7f }), "2x + 3 (gradients accumulate)");
    }

    /// <summary>
    /// Training steps in recycling scopes give bitwise the same parameters as the same steps in plain scopes, for
    /// LeNet-5 and for resnet20 (batch norm, residual additions, the zero-padded concatenation of its shortcuts).
    /// </summary>
    [TestCase("lenet5", 4, 28)]
    [TestCase("resnet20", 2, 32)]
    public void RecyclingStepsTrainExactlyAsPlainSteps(string name, int batch, int size)
    {
        var plain = Train(name, batch, size, Scope.Begin);
        var recycled = Train(name, batch, size, Scope.BeginRecycling);
        Assert.That(recycled.Count, Is.EqualTo(plain.Count));
        for (int i = 0; i < plain.Count; i++)
            Assert.That(recycled[i], Is.EqualTo(plain[i]), $"parameter {i} of {name} after 3 steps");
    }

    private List<float[]> Train<TScope>(string name, int batch, int size, Func<TScope> openScope) where TScope : IDisposable
    {
        var entry = ModelZoo.Find(name);
        var model = ModelZoo.Create(name, generator: new Generator(11));
        model.To(Backend);
        var optimizer = new Sgd(model.Parameters(), 0.05f, momentum: 0.9f);
        var input = new Shape(batch, entry.DefaultChannels, size, size);
        var images = new Generator(12).Uniform(input.Size, -1f, 1f);
        var labels = Enumerable.Range(0, batch).Select(i => i * 3 % 10).ToArray();
        for (int step = 0; step < 3; step++)
        {
            using var scope = openScope();
            optimizer.ZeroGrad();
            Engine.Ops.CrossEntropy(model.Forward(Tensor.FromArray(Backend, images, input)), labels).Backward();
            optimizer.Step();
        }
        return model.Parameters().Select(p => p.ToArray()).ToList();
    }

    /// <summary>A tensor made in a recycling step and used after it fails, saying why, until its handle is reused.</summary>
    [Test]
    public void ATensorUsedAfterItsRecyclingStepThrows()
    {
        var model = new Linear(3, 2, generator: new Generator(1));
        model.To(Backend);
        Tensor logits;
        using (Scope.BeginRecycling())
        {
            logits = model.Forward(Upload(new double[] { 1, 2, 3 }, 1, 3));
            Engine.Ops.Sum(logits).Backward();
        }
        var e = Assert.Throws<ObjectDisposedException>(() => logits.ToArray())!;
        Assert.That(e.Message, Does.Contain("recycling scope that made it ended"));
        Assert.That(model.Weight.Value.Grad!.ToArray(), Has.Length.EqualTo(6), "leaf gradients are kept");
    }

    /// <summary>
    /// A result kept with a graph that backward has not run could reach its scope's other tensors later, so that scope
    /// recycles nothing: a later step cannot hand those handles out, and a late backward fails on the released inputs
    /// instead of computing with whatever reused them.
    /// </summary>
    [Test]
    public void AKeptResultWithAnUnrunGraphStopsItsScopeFromRecycling()
    {
        var w = Upload(new double[] { 0.5, -1 }, 2).Keep();
        w.RequiresGrad = true;
        Tensor loss, later;
        using (Scope.BeginRecycling())
            loss = Engine.Ops.Sum(Engine.Ops.Multiply(Upload(new double[] { 1, 2 }, 2), w)).Keep();
        // the thread's most recently recycled handle would be the upload of [1, 2], which dLoss/dw reads
        using (Scope.BeginRecycling())
            later = Upload(new double[] { 9, 9 }, 2).Keep();
        var e = Assert.Throws<ObjectDisposedException>(() => loss.Backward())!;
        Assert.That(e.Message, Does.Contain("used after it was released"));
        Assert.That(w.Grad, Is.Null, "no gradient was computed from a reused tensor");
        Assert.That(later.ToArray(), Is.EqualTo(new[] { 9f, 9f }));
    }

    /// <summary>An op recorded the older way, with its backward as a closure, still back-propagates and is consumed once.</summary>
    [Test]
    public void AClosureBackwardStillWorks()
    {
        var x = Upload(new double[] { 1, -3 }, 2);
        x.RequiresGrad = true;
        Tensor y;
        using (Autograd.NoGrad()) y = Engine.Ops.Scale(x, 2f);
        Autograd.Record("Double", y, [x], dY => Autograd.Accumulate(x, Engine.Ops.Scale(dY, 2f)));
        var sum = Engine.Ops.Sum(Engine.Ops.Square(y));
        sum.Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 8f, -24f }), "d/dx sum((2x)^2) = 8x");
        Assert.That(Assert.Throws<InvalidOperationException>(() => Engine.Ops.Sum(y).Backward())!.Message, Does.Contain("'Double' was already used"));
    }

    /// <summary>
    /// Concatenation of four inputs (inline in the node, as an Inception block's branches) and of more (an array) splits
    /// dY back to each input that needs a gradient, through the ops behind it; the one that does not gets none.
    /// </summary>
    [TestCase(4)]
    [TestCase(6)]
    public void ConcatOfManyInputsSendsEachItsSlice(int count)
    {
        var parts = Enumerable.Range(1, count).Select(i => Upload(new double[] { i, -i }, 1, 2)).ToArray();
        for (int i = 0; i < count; i++) parts[i].RequiresGrad = i != 2;
        // computed inputs (x 1), so the backward pass must also reach the nodes behind each one
        var inputs = parts.Select(p => Engine.Ops.Scale(p, 1f)).ToArray();
        Engine.Ops.Sum(Engine.Ops.Square(Engine.Ops.Concat(inputs, 0))).Backward();
        for (int i = 0; i < parts.Length; i++)
            if (i == 2) Assert.That(parts[i].Grad, Is.Null, "part 2 needs no gradient");
            else Assert.That(parts[i].Grad!.ToArray(), Is.EqualTo(new[] { 2f * (i + 1), -2f * (i + 1) }), $"part {i} of {count}: d/dp sum(p^2) = 2p");
    }

    /// <summary>
    /// The scope object behind a recycling handle is reused by the next recycling scope of the thread; disposing the
    /// old handle again must not close the newer scope (whose tensors would then be released mid-step), and promoting
    /// through it must fail.
    /// </summary>
    [Test]
    public void AStaleRecyclingHandleDisposedAgainLeavesTheNewerScopeOpen()
    {
        var first = Scope.BeginRecycling();
        first.Dispose();
        using var second = Scope.BeginRecycling();
        var x = Upload(new double[] { 1, 2 }, 2);
        first.Dispose();
        Assert.That(second.IsOpen, Is.True, "the newer scope is still open");
        Assert.That(first.IsOpen, Is.False);
        Assert.That(second.Count, Is.EqualTo(1), "the newer scope still owns its tensor");
        Assert.That(x.ToArray(), Is.EqualTo(new[] { 1f, 2f }), "its tensor was not released");
        var e = Assert.Throws<ObjectDisposedException>(() => first.Promote(x))!;
        Assert.That(e.Message, Does.Contain("already disposed"));
    }
}
