using System.Globalization;
using Engine.Serialization;

namespace Engine.Optim;

/// <summary>
/// Everything an optimizer carries between steps, on the host: its type and hyperparameters (to refuse a resume
/// with different ones), step counts, learning rate, and per-parameter state tensors named "{slot}.{index}"
/// (PyTorch's slot names: momentum_buffer, exp_avg, exp_avg_sq, square_avg, grad_avg). A state tensor that was
/// never created (the parameter never had a gradient) is absent.
/// </summary>
public sealed record OptimizerState(
    string Type,
    IReadOnlyDictionary<string, string> Hyperparameters,
    int ParameterCount,
    int StepCount,
    float LearningRate,
    IReadOnlyList<KeyValuePair<string, HostTensor>> Tensors,
    int[]? ParameterSteps);

public abstract partial class Optimizer
{
    /// <summary>Formats settings exactly (round-trip), so a resumed optimizer can be compared to the saved one.</summary>
    protected static IReadOnlyDictionary<string, string> Settings(params (string Name, float Value)[] settings) =>
        settings.ToDictionary(s => s.Name, s => s.Value.ToString("R", CultureInfo.InvariantCulture), StringComparer.Ordinal);

    /// <summary>A host copy of the whole state (exact values).</summary>
    public OptimizerState GetState()
    {
        var tensors = new List<KeyValuePair<string, HostTensor>>();
        foreach (var (slot, slotTensors) in StateSlots)
            for (int i = 0; i < slotTensors.Length; i++)
                if (slotTensors[i] is { } t)
                    tensors.Add(new($"{slot}.{i.ToString(CultureInfo.InvariantCulture)}", new HostTensor(t.Shape, t.ToArray())));
        return new OptimizerState(GetType().Name, Hyperparameters, Parameters.Count, StepCount, LearningRate, tensors, (int[]?)ParameterSteps?.Clone());
    }

    /// <summary>
    /// Replaces the whole state with <paramref name="state"/>. The type, hyperparameters, parameter count and every
    /// tensor's shape must match this optimizer; otherwise an <see cref="InvalidDataException"/> lists every
    /// difference and nothing is changed.
    /// </summary>
    public void LoadState(OptimizerState state)
    {
        var problems = new List<string>();
        if (state.Type != GetType().Name) problems.Add($"the optimizer is {GetType().Name}, the state is for {state.Type}");
        foreach (var (name, value) in Hyperparameters)
            if (!state.Hyperparameters.TryGetValue(name, out var saved)) problems.Add($"the state has no {name} (this optimizer's is {value})");
            else if (saved != value) problems.Add($"{name} is {value} here, {saved} in the state");
        foreach (var name in state.Hyperparameters.Keys.Where(k => !Hyperparameters.ContainsKey(k)))
            problems.Add($"the state has {name}, which {GetType().Name} does not take");
        if (state.ParameterCount != Parameters.Count)
            problems.Add($"the optimizer has {Parameters.Count} parameters, the state {state.ParameterCount}");
        var steps = ParameterSteps;
        if ((steps is null) != (state.ParameterSteps is null) || (steps is not null && steps.Length != state.ParameterSteps!.Length))
            problems.Add($"per-parameter step counts: expected {steps?.Length.ToString(CultureInfo.InvariantCulture) ?? "none"}, got {state.ParameterSteps?.Length.ToString(CultureInfo.InvariantCulture) ?? "none"}");
        var slots = StateSlots.ToDictionary(s => s.Slot, s => s.Tensors, StringComparer.Ordinal);
        var placed = new List<(Tensor?[] Slot, int Index, HostTensor Value)>();
        foreach (var (name, value) in state.Tensors)
        {
            int dot = name.LastIndexOf('.');
            if (dot <= 0 || !slots.TryGetValue(name[..dot], out var slot)
                || !int.TryParse(name.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int index) || index >= Parameters.Count)
            {
                problems.Add($"unexpected state tensor '{name}' (expected {string.Join(", ", slots.Keys)} followed by a parameter index below {Parameters.Count})");
                continue;
            }
            if (value.Shape != Parameters[index].Shape)
                problems.Add($"'{name}' has shape {value.Shape}, parameter {index} has {Parameters[index].Shape}");
            else placed.Add((slot, index, value));
        }
        if (state.StepCount < 0) problems.Add($"the step count is {state.StepCount}");
        if (problems.Count > 0)
            throw new InvalidDataException($"{GetType().Name}: the saved optimizer state does not match: {string.Join("; ", problems)}");

        foreach (var (_, slotTensors) in StateSlots)
            for (int i = 0; i < slotTensors.Length; i++)
            {
                slotTensors[i]?.Dispose();
                slotTensors[i] = null;
            }
        foreach (var (slot, index, value) in placed)
        {
            var t = State(Parameters[index]);
            t.CopyFrom(value.Values);
            slot[index] = t;
        }
        state.ParameterSteps?.CopyTo(steps!, 0);
        StepCount = state.StepCount;
        LearningRate = state.LearningRate;
    }
}
