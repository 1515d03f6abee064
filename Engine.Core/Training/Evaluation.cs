namespace Engine.Training;

/// <summary>
/// One evaluation pass: loss and accuracies, the confusion matrix, and per sample (in the loader's order) the
/// label, the predicted class and its softmax probability.
/// </summary>
public sealed record Evaluation(EpochStats Stats, ConfusionMatrix Confusion, int[] Labels, int[] Predicted, float[] Confidence)
{
    /// <summary>
    /// Sample indices with the mistakes first (most confident mistakes first), then the correct ones (least
    /// confident first): the order in which a report shows test images.
    /// </summary>
    public int[] MistakesFirst()
    {
        var order = Enumerable.Range(0, Labels.Length).ToArray();
        return order.OrderBy(i => Predicted[i] == Labels[i] ? 1 : 0)
            .ThenBy(i => Predicted[i] == Labels[i] ? Confidence[i] : -Confidence[i])
            .ThenBy(i => i)
            .ToArray();
    }
}
