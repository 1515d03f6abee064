namespace Engine.Cli;

/// <summary>Where a command writes: results on <see cref="Out"/>, problems on <see cref="Error"/>; progress
/// bars and colours only when <see cref="Interactive"/> (stdout is a terminal).</summary>
public sealed record CliContext(TextWriter Out, TextWriter Error, bool Interactive);

/// <summary>
/// The command-line program: "engine COMMAND [options]". Every failure becomes one line on stderr and a non-zero
/// exit code (2 for bad usage, 1 for bad input or a failed run); no stack trace reaches the user.
/// </summary>
public static class Cli
{
    private sealed record Command(CommandSpec Spec, Func<ParsedOptions, CliContext, int> Run);

    private static readonly Command[] s_commands =
    [
        new(TrainCommand.Spec, TrainCommand.Run),
        new(EvalCommand.Spec, EvalCommand.Run),
        new(SummaryCommand.Spec, SummaryCommand.Run),
        new(PredictCommand.Spec, PredictCommand.Run),
        new(VisualizeCommand.Spec, VisualizeCommand.Run),
    ];

    private const string BenchName = "bench";
    private const string BenchSummary = "Time fixed convolution and training cases (see 'engine bench --help').";
    private const string OnnxTestName = "onnx-test";
    private const string OnnxTestSummary = "Run ONNX backend-test directories (model.onnx, test_data_set_N): onnx-test [--backend NAME] DIR...";

    /// <summary>Runs a command without terminal features (as tests and pipes see it); returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error) => Run(args, new CliContext(output, error, Interactive: false));

    public static int Run(string[] args, CliContext context)
    {
        try
        {
            if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
            {
                WriteHelp(context.Out);
                return args.Length == 0 ? 2 : 0;
            }
            if (args[0] == BenchName) return BenchCommand.Run(args[1..], context.Out, context.Error);
            if (args[0] == OnnxTestName)
            {
                if (args.Length > 1 && args[1] is "--help" or "-h")
                {
                    context.Out.WriteLine("usage: engine " + OnnxTestName + " [--backend cpu|cuda|cuda-emulated] DIR...");
                    context.Out.WriteLine("  " + OnnxTestSummary);
                    context.Out.WriteLine("  Each DIR is one case or a folder of cases; one line per case, then 'N passed, N failed'; exit 1 if any failed.");
                    return 0;
                }
                return Engine.Onnx.OnnxConformance.RunCli(args[1..], context.Out, context.Error, name => BackendOptions.Create(name));
            }
            var command = s_commands.FirstOrDefault(c => c.Spec.Name == args[0])
                ?? throw new UsageException($"unknown command '{args[0]}'; commands: {string.Join(", ", s_commands.Select(c => c.Spec.Name).Append(BenchName).Append(OnnxTestName))} (see 'engine --help')");
            var options = command.Spec.Parse(args[1..]);
            if (options.WantsHelp)
            {
                command.Spec.WriteHelp(context.Out);
                return 0;
            }
            return command.Run(options, context);
        }
        catch (UsageException e)
        {
            WriteError(context.Error, e.Message);
            return 2;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            // Bad input: corrupt files, missing files or directories, invalid values and shapes.
            WriteError(context.Error, e.Message);
            return 1;
        }
        catch (Exception e)
        {
            WriteError(context.Error, $"internal error ({e.GetType().Name}): {e.Message}");
            return 1;
        }
    }

    private static void WriteError(TextWriter error, string message) =>
        error.WriteLine("error: " + string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)));

    private static void WriteHelp(TextWriter output)
    {
        output.WriteLine("usage: engine COMMAND [options]   (from the repository: dotnet run --project Engine.Cli -c Release -- COMMAND)");
        output.WriteLine();
        output.WriteLine("commands:");
        var rows = s_commands.Select(c => (Name: c.Spec.Name, Summary: c.Spec.Summary)).Append((Name: BenchName, Summary: BenchSummary)).Append((Name: OnnxTestName, Summary: OnnxTestSummary)).ToList();
        int width = rows.Max(r => r.Name.Length) + 2;
        foreach (var (name, summary) in rows) output.WriteLine($"  {name.PadRight(width)}{summary}");
        output.WriteLine();
        output.WriteLine("'engine COMMAND --help' lists a command's options.");
    }
}
