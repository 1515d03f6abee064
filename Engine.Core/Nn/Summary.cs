namespace Engine.Nn;

/// <summary>
/// One row of a model summary: a layer, the shape it produced, the parameters it owns itself, the multiply-adds it
/// ran, the bytes of its output, and what one output position sees of the model's input (receptive field and
/// effective stride; null where no window geometry reaches the layer).
/// </summary>
public sealed record LayerSummary(string Name, string Type, Shape OutputShape, long Params, long Macs = 0, long ActivationBytes = 0,
    ReceptiveField? ReceptiveField = null);

/// <summary>
/// The layers a model runs, in execution order, with their output shapes and parameter counts, found by running
/// the model once on a zero input (no gradients, eval mode) while <see cref="Module.Observe(Action{Module, Tensor}, Action)"/> watches.
/// Rows are the leaf modules and any module owning parameters directly, so the rows' parameters sum to
/// <see cref="TotalParams"/>; a module that runs twice appears twice but counts its parameters once.
/// </summary>
public sealed record ModelSummary(string Model, Shape Input, Shape Output, IReadOnlyList<LayerSummary> Layers, long TotalParams,
    long TotalMacs = 0, long TotalActivationBytes = 0)
{
    /// <summary>Places <paramref name="model"/> on <paramref name="backend"/> (if it is not yet) and runs it once on zeros of shape <paramref name="input"/>.</summary>
    public static ModelSummary Of(Module model, Shape input, IBackend backend)
    {
        model.To(backend);
        var layers = new List<LayerSummary>();
        var counted = new HashSet<Module>(ReferenceEqualityComparer.Instance);
        bool wasTraining = model.Training;
        Shape output;
        long totalMacs;
        model.Eval();
        try
        {
            using var scope = Scope.Begin();
            // Gradients are recorded (never used) so every op reports to the inspection; nothing runs backward.
            var x = Tensor.Zeros(backend, input);
            x.RequiresGrad = true;
            using var inspection = Inspection.Begin(x);
            Shape? result = null;
            Module.Observe((module, y, macs) =>
            {
                if (ReferenceEquals(module, model)) return;
                long own = OwnParameters(module);
                if (module.Children.Count > 0 && own == 0) return;
                layers.Add(new LayerSummary(module.Path, module.TypeName, y.Shape, counted.Add(module) ? own : 0, macs,
                    4L * y.Length, inspection.FieldOf(y)));
            }, () => result = model.Forward(x).Shape);
            output = result!.Value;
            totalMacs = inspection.Macs;
            model.ZeroGradients();
        }
        finally
        {
            model.Train(wasTraining);
        }
        return new ModelSummary(model.TypeName, input, output, layers, model.ParameterCount(), totalMacs, layers.Sum(l => l.ActivationBytes));
    }

    /// <summary>Trainable values the module holds itself (not its children's).</summary>
    private static long OwnParameters(Module module) =>
        module.NamedParameters().Where(p => ReferenceEquals(p.Parameter.Owner, module)).Sum(p => (long)p.Parameter.Shape.Size);
}
