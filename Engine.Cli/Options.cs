using System.Globalization;

namespace Engine.Cli;

/// <summary>Bad command-line input: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>An option a command accepts: "--name VALUE" (or a flag when <see cref="Value"/> is null).</summary>
public sealed record OptionSpec(string Name, string? Value, string Help, string? Default = null);

/// <summary>A command's name, one-line purpose, options and notes; enough to parse and to print --help.</summary>
public sealed record CommandSpec(string Name, string Summary, IReadOnlyList<OptionSpec> Options, string? Notes = null)
{
    public static readonly OptionSpec Help = new("help", null, "show this help");

    /// <summary>When set (its name for help, such as "IMAGE..."), arguments that are not options are collected in order.</summary>
    public string? Positional { get; init; }

    public string Usage => $"usage: engine {Name} [options]{(Positional is null ? "" : " " + Positional)}";

    public void WriteHelp(TextWriter output)
    {
        output.WriteLine(Usage);
        output.WriteLine();
        output.WriteLine(Summary);
        output.WriteLine();
        output.WriteLine("options:");
        var rows = Options.Append(Help).Select(o => (Left: o.Value is null ? $"--{o.Name}" : $"--{o.Name} {o.Value}", o)).ToList();
        int width = rows.Max(r => r.Left.Length) + 2;
        foreach (var (left, option) in rows)
            output.WriteLine($"  {left.PadRight(width)}{option.Help}{(option.Default is null ? "" : $" (default: {option.Default})")}");
        if (Notes is not null)
        {
            output.WriteLine();
            output.WriteLine(Notes);
        }
    }

    /// <summary>Parses "--name value", "--name=value" and flags; anything else is a <see cref="UsageException"/>.</summary>
    public ParsedOptions Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        var positionals = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (Positional is not null && !arg.StartsWith("--", StringComparison.Ordinal))
            {
                positionals.Add(arg);
                continue;
            }
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
                throw new UsageException($"{Name}: unexpected argument '{arg}' (options start with --; see 'engine {Name} --help')");
            string name = arg[2..];
            string? inline = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0) (name, inline) = (name[..equals], name[(equals + 1)..]);
            var spec = name == Help.Name ? Help : Options.FirstOrDefault(o => o.Name == name)
                ?? throw new UsageException($"{Name}: unknown option '--{name}' (see 'engine {Name} --help')");
            if (values.ContainsKey(name))
                throw new UsageException($"{Name}: option '--{name}' is given twice");
            if (spec.Value is null)
            {
                if (inline is not null) throw new UsageException($"{Name}: option '--{name}' takes no value, got '{inline}'");
                values[name] = null;
                continue;
            }
            if (inline is null)
            {
                if (i + 1 >= args.Count || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
                    throw new UsageException($"{Name}: option '--{name}' expects a value ({spec.Value})");
                inline = args[++i];
            }
            values[name] = inline;
        }
        return new ParsedOptions(this, values) { Positionals = positionals };
    }
}

/// <summary>Parsed option values with typed, validated accessors; a bad value names the option and what it expected.</summary>
public sealed class ParsedOptions(CommandSpec command, Dictionary<string, string?> values)
{
    public bool WantsHelp => Has(CommandSpec.Help.Name);

    /// <summary>The arguments that are not options, in order (only for commands with a <see cref="CommandSpec.Positional"/>).</summary>
    public IReadOnlyList<string> Positionals { get; init; } = [];

    public bool Has(string name) => values.ContainsKey(name);

    /// <summary>The names of the options given (flags included).</summary>
    public IEnumerable<string> Names => values.Keys;

    /// <summary>The same command with these option values instead (positionals kept).</summary>
    public ParsedOptions With(IReadOnlyDictionary<string, string?> replacement) =>
        new(command, new Dictionary<string, string?>(replacement, StringComparer.Ordinal)) { Positionals = Positionals };

    public bool Flag(string name) => Has(name);

    public string? String(string name) => values.TryGetValue(name, out var value) ? value : null;

    public string String(string name, string fallback) => String(name) ?? fallback;

    public string Required(string name) =>
        String(name) ?? throw new UsageException($"{command.Name}: option '--{name}' is required (see 'engine {command.Name} --help')");

    public int Int(string name, int fallback, int min = int.MinValue)
    {
        var text = String(name);
        if (text is null) return fallback;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) || value < min)
            throw Bad(name, text, min == int.MinValue ? "an integer" : $"an integer >= {min}");
        return value;
    }

    public ulong ULong(string name, ulong fallback)
    {
        var text = String(name);
        if (text is null) return fallback;
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) ? value : throw Bad(name, text, "a non-negative integer");
    }

    public float? PositiveFloat(string name)
    {
        var text = String(name);
        if (text is null) return null;
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !(value > 0f) || float.IsInfinity(value))
            throw Bad(name, text, "a positive number");
        return value;
    }

    public float NonNegativeFloat(string name, float fallback)
    {
        var text = String(name);
        if (text is null) return fallback;
        if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !(value >= 0f) || float.IsInfinity(value))
            throw Bad(name, text, "a non-negative number");
        return value;
    }

    public string Choice(string name, string fallback, params string[] choices)
    {
        var text = String(name, fallback);
        return choices.Contains(text, StringComparer.Ordinal) ? text : throw Bad(name, text, $"one of {string.Join(", ", choices)}");
    }

    /// <summary>A shape written "N,C,H,W" (every size positive).</summary>
    public Shape? Shape(string name, int rank)
    {
        var text = String(name);
        if (text is null) return null;
        var parts = text.Split(',');
        var dims = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out dims[i]) || dims[i] <= 0)
                throw Bad(name, text, $"{rank} positive sizes separated by commas, like 1,1,28,28");
        if (dims.Length != rank) throw Bad(name, text, $"{rank} positive sizes separated by commas, like 1,1,28,28");
        return new Shape(dims);
    }

    private UsageException Bad(string name, string text, string expected) =>
        new($"{command.Name}: option '--{name}' expects {expected}, got '{text}'");
}
