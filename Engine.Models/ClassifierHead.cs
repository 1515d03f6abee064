using Engine.Nn;

namespace Engine.Models;

/// <summary>
/// The classifier head of a zoo model: the last <see cref="Linear"/> layer in module order, which produces the
/// logits in every zoo model that classifies (torchvision's fc, classifier.1, classifier.6, ...; unet has none).
/// </summary>
public static class ClassifierHead
{
    /// <summary>The head of <paramref name="model"/>; a model without a Linear layer is an <see cref="ArgumentException"/>.</summary>
    public static Linear Find(Module model) =>
        model.Modules().OfType<Linear>().LastOrDefault()
        ?? throw new ArgumentException($"{model.Describe()} has no Linear classifier head to replace");

    /// <summary>
    /// Replaces the classifier head by a freshly initialized one for <paramref name="numClasses"/> classes (drawn
    /// from <paramref name="generator"/>, else <see cref="Generator.Default"/>), on the head's backend; every
    /// other parameter is kept. Make the optimizer after this call. Returns the model.
    /// </summary>
    public static Module ReplaceClassifier(this Module model, int numClasses, Generator? generator = null)
    {
        Find(model).ResetOutputs(numClasses, generator);
        return model;
    }
}
