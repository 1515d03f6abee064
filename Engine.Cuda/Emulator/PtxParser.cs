using System.Text.RegularExpressions;

namespace Engine.Cuda.Emulator;

/// <summary>
/// Parses the PTX subset our kernels use: module directives, <c>.entry</c> functions with scalar params,
/// <c>.reg</c> declarations (with the <c>%r&lt;N&gt;</c> expansion), static and dynamic <c>.shared</c> arrays,
/// labels, and the instructions <see cref="PtxDecoder"/> knows. Everything else is rejected by name.
/// </summary>
internal static partial class PtxParser
{
    [GeneratedRegex(@"^(?:\.visible\s+)?\.entry\s+([A-Za-z_$][\w$]*)\s*\(([^)]*)\)(.*)$", RegexOptions.Singleline)]
    private static partial Regex EntryHeader();

    [GeneratedRegex(@"^([A-Za-z_$][\w$]*)\s*:")]
    private static partial Regex Label();

    [GeneratedRegex(@"^\.reg\s+\.(\w+)\s+(.+)$", RegexOptions.Singleline)]
    private static partial Regex RegDecl();

    [GeneratedRegex(@"^(%[A-Za-z_$][\w$]*)(?:<(\d+)>)?$")]
    private static partial Regex RegName();

    [GeneratedRegex(@"^(\.extern\s+)?\.shared\s+(?:\.align\s+(\d+)\s+)?\.(\w+)\s+([A-Za-z_$][\w$]*)\[(\d*)\]$")]
    private static partial Regex SharedDecl();

    public static PtxModule Parse(string moduleName, string text)
    {
        string code = StripComments(text);
        var kernels = new Dictionary<string, PtxKernel>();
        var moduleShared = new List<string>();
        int at = 0;
        while (true)
        {
            while (at < code.Length && char.IsWhiteSpace(code[at])) at++;
            if (code.AsSpan(at).StartsWith(".version") || code.AsSpan(at).StartsWith(".target") || code.AsSpan(at).StartsWith(".address_size"))
            {
                int eol = code.IndexOf('\n', at);
                if (eol < 0) eol = code.Length;
                string directive = Normalize(code[at..eol]);
                if (directive.StartsWith(".address_size") && directive != ".address_size 64")
                    throw Error(moduleName, $"only .address_size 64 is supported, got '{directive}'");
                at = eol;
                continue;
            }
            int end = code.IndexOfAny([';', '{'], at);
            if (end < 0)
            {
                if (code[at..].Trim().Length > 0) throw Error(moduleName, $"unterminated statement '{code[at..].Trim()}'");
                break;
            }
            string statement = Normalize(code[at..end]);
            if (code[end] == '{')
            {
                var header = EntryHeader().Match(statement);
                if (!header.Success) throw Error(moduleName, $"unsupported block '{statement}' (only .entry functions are supported)");
                int close = code.IndexOf('}', end + 1);
                if (close < 0) throw Error(moduleName, $"entry '{header.Groups[1].Value}' has no closing brace");
                string body = code[(end + 1)..close];
                if (body.Contains('{')) throw Error(moduleName, $"entry '{header.Groups[1].Value}': nested {{ }} blocks are not supported");
                var kernel = ParseEntry(moduleName, header.Groups[1].Value, header.Groups[2].Value, header.Groups[3].Value, body, moduleShared);
                kernels.Add(kernel.Name, kernel);
                at = close + 1;
                continue;
            }
            at = end + 1;
            if (statement.Length == 0) continue;
            if (statement.StartsWith(".shared") || statement.StartsWith(".extern .shared")) moduleShared.Add(statement);
            else throw Error(moduleName, $"unsupported module-level statement '{statement}'");
        }
        if (kernels.Count == 0) throw Error(moduleName, "no .entry found");
        return new PtxModule(moduleName, kernels);
    }

    private static PtxKernel ParseEntry(string module, string name, string paramText, string directives, string body, List<string> moduleShared)
    {
        string where = $"{module}:{name}";
        var parameters = ParseParams(where, paramText);
        int maxThreads = ParseDirectives(where, Normalize(directives));
        var registers = new Dictionary<string, (int Slot, int Width)>();
        var shared = new Dictionary<string, long>();
        var labels = new Dictionary<string, int>();
        var instructions = new List<string>();
        int nextSlot = PtxKernel.SpecialCount;
        long sharedBytes = 0;
        string? dynamicName = null;

        foreach (string sharedDecl in moduleShared) DeclareShared(where, sharedDecl, shared, ref sharedBytes, ref dynamicName);
        foreach (string raw in body.Split(';'))
        {
            string statement = Normalize(raw);
            for (var m = Label().Match(statement); m.Success; m = Label().Match(statement))
            {
                if (!labels.TryAdd(m.Groups[1].Value, instructions.Count)) throw Error(where, $"label '{m.Groups[1].Value}' is defined twice");
                statement = statement[m.Length..].Trim();
            }
            if (statement.Length == 0) continue;
            if (statement.StartsWith(".reg")) DeclareRegisters(where, statement, registers, ref nextSlot);
            else if (statement.StartsWith(".shared") || statement.StartsWith(".extern")) DeclareShared(where, statement, shared, ref sharedBytes, ref dynamicName);
            else if (statement.StartsWith('.')) throw Error(where, $"unsupported directive '{statement.Split(' ')[0]}' in '{statement}'");
            else instructions.Add(statement);
        }
        long staticBytes = sharedBytes;
        if (dynamicName is not null) shared[dynamicName] = AlignUp(staticBytes, 16);
        if (instructions.Count == 0 || !instructions[^1].StartsWith("ret") && !instructions[^1].StartsWith("exit") && !instructions[^1].StartsWith("bra"))
            throw Error(where, "the entry must end with ret, exit or an unconditional bra");

        var decoder = new PtxDecoder(where, registers, shared, labels, parameters, nextSlot);
        var code = new Instruction[instructions.Count];
        for (int i = 0; i < code.Length; i++) code[i] = decoder.Decode(instructions[i]);
        return new PtxKernel
        {
            Name = name,
            Code = code,
            Source = instructions.ToArray(),
            Template = decoder.BuildTemplate(),
            Params = parameters,
            StaticSharedBytes = (int)AlignUp(staticBytes, 16),
            MaxThreads = maxThreads,
        };
    }

    private static PtxParam[] ParseParams(string where, string text)
    {
        var result = new List<PtxParam>();
        int offset = 0;
        foreach (string raw in text.Split(','))
        {
            string p = Normalize(raw);
            if (p.Length == 0) continue;
            var parts = p.Split(' ');
            if (parts.Length != 3 || parts[0] != ".param")
                throw Error(where, $"unsupported parameter '{p}' (expected '.param .type name')");
            string type = parts[1].TrimStart('.');
            int size = type switch
            {
                "u32" or "s32" or "b32" or "f32" => 4,
                "u64" or "s64" or "b64" => 8,
                _ => throw Error(where, $"unsupported parameter type '.{type}' in '{p}'"),
            };
            offset = (int)AlignUp(offset, size);
            result.Add(new PtxParam(parts[2], type, offset, size));
            offset += size;
        }
        return result.ToArray();
    }

    private static int ParseDirectives(string where, string text)
    {
        if (text.Length == 0) return 0;
        var m = Regex.Match(text, @"^\.(maxntid|reqntid)\s+(\d+)\s*(?:,\s*(\d+)\s*)?(?:,\s*(\d+)\s*)?$");
        if (!m.Success) throw Error(where, $"unsupported entry directive '{text}' (only .maxntid/.reqntid are supported)");
        int product = 1;
        for (int g = 2; g <= 4; g++) if (m.Groups[g].Success) product *= int.Parse(m.Groups[g].Value);
        return product;
    }

    private static void DeclareRegisters(string where, string statement, Dictionary<string, (int, int)> registers, ref int nextSlot)
    {
        var m = RegDecl().Match(statement);
        if (!m.Success) throw Error(where, $"malformed register declaration '{statement}'");
        int width = m.Groups[1].Value switch
        {
            "pred" => 1,
            "b32" or "u32" or "s32" or "f32" => 32,
            "b64" or "u64" or "s64" => 64,
            var t => throw Error(where, $"unsupported register type '.{t}' in '{statement}'"),
        };
        foreach (string raw in m.Groups[2].Value.Split(','))
        {
            var n = RegName().Match(raw.Trim());
            if (!n.Success) throw Error(where, $"malformed register name '{raw.Trim()}' in '{statement}'");
            string stem = n.Groups[1].Value;
            int count = n.Groups[2].Success ? int.Parse(n.Groups[2].Value) : 1;
            for (int i = 0; i < count; i++)
            {
                string reg = n.Groups[2].Success ? stem + i : stem;
                if (!registers.TryAdd(reg, (nextSlot, width))) throw Error(where, $"register '{reg}' is declared twice");
                nextSlot++;
            }
        }
    }

    private static void DeclareShared(string where, string statement, Dictionary<string, long> shared, ref long bytes, ref string? dynamicName)
    {
        var m = SharedDecl().Match(statement);
        if (!m.Success) throw Error(where, $"unsupported shared declaration '{statement}'");
        int align = m.Groups[2].Success ? int.Parse(m.Groups[2].Value) : 4;
        int element = m.Groups[3].Value switch
        {
            "b8" or "u8" => 1,
            "b32" or "u32" or "s32" or "f32" => 4,
            "b64" or "u64" or "s64" => 8,
            var t => throw Error(where, $"unsupported shared element type '.{t}'"),
        };
        string name = m.Groups[4].Value;
        if (m.Groups[1].Success)
        {
            if (m.Groups[5].Value.Length != 0) throw Error(where, $"extern shared '{name}' must be declared with [] (got '{statement}')");
            if (dynamicName is not null) throw Error(where, $"two extern shared arrays ('{dynamicName}', '{name}')");
            dynamicName = name;
            return;
        }
        if (m.Groups[5].Value.Length == 0) throw Error(where, $"shared array '{name}' needs a size");
        bytes = AlignUp(bytes, align);
        if (!shared.TryAdd(name, bytes)) throw Error(where, $"shared '{name}' is declared twice");
        bytes += (long)element * int.Parse(m.Groups[5].Value);
    }

    internal static long AlignUp(long value, long align) => (value + align - 1) / align * align;

    /// <summary>Collapses whitespace runs to one space and trims.</summary>
    private static string Normalize(string s) => Regex.Replace(s, @"\s+", " ").Trim();

    private static string StripComments(string text)
    {
        string noBlock = Regex.Replace(text, @"/\*.*?\*/", " ", RegexOptions.Singleline);
        return Regex.Replace(noBlock, @"//[^\n]*", "");
    }

    internal static PtxException Error(string where, string message) => new($"PTX {where}: {message}");
}
