using Engine.Nn;

namespace Engine.Serialization;

/// <summary>Copies named host tensors into a module's parameters and buffers, all checked before any is changed.</summary>
public static class StateLoading
{
    /// <summary>
    /// Loads <paramref name="tensors"/> into <paramref name="module"/>: names must match one to one and shapes
    /// exactly. Otherwise an <see cref="InvalidDataException"/> names <paramref name="source"/> and lists every
    /// missing, unexpected and mis-shaped tensor at once, and the module is left unchanged.
    /// </summary>
    public static void LoadInto(Module module, IEnumerable<KeyValuePair<string, HostTensor>> tensors, string source)
    {
        var given = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors) given[name] = tensor;
        var named = module.NamedState().ToDictionary(s => s.Name, s => s.Parameter, StringComparer.Ordinal);
        var missing = named.Keys.Where(k => !given.ContainsKey(k)).ToList();
        var unexpected = given.Keys.Where(k => !named.ContainsKey(k)).ToList();
        var misShaped = given.Where(t => named.TryGetValue(t.Key, out var p) && p.Shape != t.Value.Shape)
            .Select(t => $"'{t.Key}' has shape {t.Value.Shape}, the model expects {named[t.Key].Shape}").ToList();
        if (missing.Count > 0 || unexpected.Count > 0 || misShaped.Count > 0)
        {
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add($"missing [{string.Join(", ", missing)}]");
            if (unexpected.Count > 0) problems.Add($"unexpected [{string.Join(", ", unexpected)}]");
            problems.AddRange(misShaped);
            throw new InvalidDataException($"{source} does not match {module.Describe()}: {string.Join("; ", problems)}");
        }
        foreach (var (name, tensor) in given) named[name].Load(tensor.Values);
    }
}
