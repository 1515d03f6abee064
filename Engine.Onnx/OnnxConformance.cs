using Engine.Onnx.Proto;
using DataType = Engine.Onnx.Proto.TensorProto.Types.DataType;

namespace Engine.Onnx;

/// <summary>
/// Runs directories in the ONNX backend-test layout (model.onnx, test_data_set_N/input_K.pb, output_K.pb) and
/// compares every output with ONNX's tolerance |actual - expected| &lt;= atol + rtol * |expected|
/// (rtol 1e-3, atol 1e-7; NaN matches NaN; integer and boolean outputs must be equal).
/// </summary>
public static class OnnxConformance
{
    public const double RelativeTolerance = 1e-3, AbsoluteTolerance = 1e-7;

    /// <summary>The case directories under each path: the path itself if it holds a model.onnx, else its subdirectories that do.</summary>
    public static IReadOnlyList<string> FindCases(IEnumerable<string> paths)
    {
        var cases = new List<string>();
        foreach (var p in paths)
        {
            if (File.Exists(System.IO.Path.Combine(p, "model.onnx"))) cases.Add(p);
            else if (Directory.Exists(p))
                cases.AddRange(Directory.GetDirectories(p).Where(d => File.Exists(System.IO.Path.Combine(d, "model.onnx"))).Order(StringComparer.Ordinal));
            else throw new DirectoryNotFoundException($"onnx-test: '{p}' is neither a test case (with model.onnx) nor a directory of them");
        }
        return cases;
    }

    /// <summary>The model's operators that are not in the supported list (empty when all are), read without building the model.</summary>
    public static IReadOnlyList<string> UnsupportedOperators(string caseDir)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(System.IO.Path.Combine(caseDir, "model.onnx")));
        var ops = new SortedSet<string>(StringComparer.Ordinal);
        void Walk(GraphProto g)
        {
            foreach (var node in g.Node)
            {
                if (!(node.Domain is "" or "ai.onnx") || !OnnxOps.Supported.Contains(node.OpType))
                    ops.Add(node.Domain.Length > 0 ? $"{node.Domain}.{node.OpType}" : node.OpType);
                foreach (var a in node.Attribute)
                {
                    if (a.G is not null) Walk(a.G);
                    foreach (var sub in a.Graphs) Walk(sub);
                }
            }
        }
        if (model.Graph is not null) Walk(model.Graph);
        return ops.ToList();
    }

    /// <summary>
    /// Classifies every case under <paramref name="dataRoot"/>/SUITE: "run SUITE/CASE" when it passes,
    /// "exclude SUITE/CASE: operators not in the list: ..." or "exclude SUITE/CASE: FAILED error" (to be replaced by
    /// a reviewed reason) otherwise. scripts/onnx-cases.sh writes this list.
    /// </summary>
    public static IEnumerable<string> Survey(string dataRoot, IEnumerable<string> suites, IBackend backend)
    {
        foreach (var suite in suites)
            foreach (var dir in FindCases([System.IO.Path.Combine(dataRoot, suite)]))
            {
                string name = $"{suite}/{System.IO.Path.GetFileName(dir)}";
                var unsupported = UnsupportedOperators(dir);
                if (unsupported.Count > 0)
                {
                    yield return $"exclude {name}: operators not in the list: {string.Join(", ", unsupported)}";
                    continue;
                }
                string? error = RunCase(dir, backend);
                yield return error is null ? $"run {name}" : $"exclude {name}: FAILED {error}";
            }
    }

    /// <summary>Runs every case, one line each ("PASS name" or "FAIL name: reason"), then "N passed, N failed".</summary>
    public static (int Passed, int Failed) Run(IEnumerable<string> caseDirs, IBackend backend, TextWriter output)
    {
        int passed = 0, failed = 0;
        foreach (var dir in caseDirs)
        {
            string name = System.IO.Path.GetFileName(dir.TrimEnd('/'));
            string? error = RunCase(dir, backend);
            if (error is null) { passed++; output.WriteLine($"PASS {name}"); }
            else { failed++; output.WriteLine($"FAIL {name}: {error}"); }
        }
        output.WriteLine($"{passed} passed, {failed} failed");
        return (passed, failed);
    }

    /// <summary>Runs one case directory; null when every data set matches, else the first failure.</summary>
    public static string? RunCase(string dir, IBackend backend)
    {
        try
        {
            var model = OnnxModel.Load(System.IO.Path.Combine(dir, "model.onnx"));
            model.Eval();
            var sets = Directory.GetDirectories(dir, "test_data_set_*").Order(StringComparer.Ordinal).ToList();
            if (sets.Count == 0) return "no test_data_set_* directories";
            foreach (var set in sets)
            {
                using var scope = Scope.Begin();
                using var noGrad = Autograd.NoGrad();
                var inputs = Numbered(set, "input").Select(OnnxTensors.ReadFile).ToList();
                var expected = Numbered(set, "output").Select(OnnxTensors.ReadFile).ToList();
                var values = inputs.Select(h => h.IsFloat ? OnnxValue.Of(h.ToTensor(backend)) : OnnxValue.Of(h)).ToList();
                var actual = model.Evaluate(values, backend);
                if (actual.Length != expected.Count)
                    return $"{System.IO.Path.GetFileName(set)}: expected {expected.Count} outputs, got {actual.Length}";
                for (int i = 0; i < expected.Count; i++)
                {
                    string? mismatch = Compare(actual[i], expected[i]);
                    if (mismatch is not null) return $"{System.IO.Path.GetFileName(set)} output {i} ('{model.OutputNames[i]}'): {mismatch}";
                }
            }
            return null;
        }
        catch (Exception e) when (e is NotSupportedException or InvalidDataException or ArgumentException or InvalidOperationException
                                      or IOException or Google.Protobuf.InvalidProtocolBufferException or OverflowException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    private static IEnumerable<string> Numbered(string set, string prefix)
    {
        for (int k = 0; ; k++)
        {
            string file = System.IO.Path.Combine(set, $"{prefix}_{k}.pb");
            if (!File.Exists(file)) yield break;
            yield return file;
        }
    }

    private static string? Compare(OnnxValue actualValue, HostTensor expected)
    {
        var dims = actualValue.Dims;
        if (!dims.SequenceEqual(expected.Dims))
            return $"expected shape ({string.Join(',', expected.Dims)}), got ({string.Join(',', dims)})";
        double[] actual = actualValue.Host?.Data ?? Array.ConvertAll(actualValue.Device!.ToArray(), v => (double)v);
        bool exact = !expected.IsFloat;
        int bad = 0, first = -1;
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = exact ? HostMath.ToType(actual[i], expected.Type) : actual[i], e = expected.Data[i];
            bool ok = exact ? a == e
                : double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? a == e
                : Math.Abs(a - e) <= AbsoluteTolerance + RelativeTolerance * Math.Abs(e);
            if (ok) continue;
            bad++;
            if (first < 0) first = i;
            worst = Math.Max(worst, Math.Abs(a - e));
        }
        if (bad == 0) return null;
        return $"{bad} of {actual.Length} values differ (first at {first}: expected {expected.Data[first]:G9}, got {actual[first]:G9}; largest difference {worst:G3})";
    }

    /// <summary>
    /// The onnx-test command: <c>onnx-test [--backend NAME] DIR...</c>. Prints one line per case and the totals;
    /// returns 0 when every case passed, 1 when any failed, 2 on a usage error.
    /// </summary>
    public static int RunCli(string[] args, TextWriter output, TextWriter error, Func<string, IBackend> backends)
    {
        string backendName = "cpu";
        var dirs = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--backend" && i + 1 < args.Length) backendName = args[++i];
            else if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                error.WriteLine($"onnx-test: unknown option '{args[i]}'; usage: onnx-test [--backend NAME] DIR...");
                return 2;
            }
            else dirs.Add(args[i]);
        }
        if (dirs.Count == 0)
        {
            error.WriteLine("onnx-test: expected at least one directory; usage: onnx-test [--backend NAME] DIR...");
            return 2;
        }
        IReadOnlyList<string> cases;
        try { cases = FindCases(dirs); }
        catch (DirectoryNotFoundException e)
        {
            error.WriteLine(e.Message);
            return 2;
        }
        var (_, failed) = Run(cases, backends(backendName), output);
        return failed == 0 ? 0 : 1;
    }
}
