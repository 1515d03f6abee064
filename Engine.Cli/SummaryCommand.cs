using System.Globalization;
using Engine.Cpu;
using Engine.Models;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>"engine summary": a model's layers with output shapes and parameter counts (computed by <see cref="ModelSummary"/>).</summary>
public static class SummaryCommand
{
    public static readonly CommandSpec Spec = new("summary", "List a model's layers with their output shapes and parameter counts.",
    [
        new("model", "NAME", $"model to describe ({string.Join(", ", ModelZoo.Names)})", TrainCommand.DefaultModel),
        new("input", "N,C,H,W", "input shape", "the model's usual input, e.g. 1,1,28,28 for lenet5"),
        new("num-classes", "K", "number of output classes", "10"),
        new("json", null, "print one JSON object (layers: [{name, type, output_shape, params}], total_params) and nothing else"),
    ]);

    public static int Run(ParsedOptions options, CliContext context)
    {
        var entry = ModelZoo.Find(options.String("model", TrainCommand.DefaultModel));
        var input = options.Shape("input", rank: 4) ?? entry.DefaultInput(inChannels: 1);
        int classes = options.Int("num-classes", 10, min: 1);
        var model = ModelZoo.Create(entry.Name, classes, input.Channels);
        using var backend = new CpuBackend(1);
        var summary = ModelSummary.Of(model, input, backend);
        if (options.Flag("json")) WriteJson(context.Out, entry.Name, summary);
        else WriteTable(context.Out, entry.Name, summary);
        return 0;
    }

    private static void WriteJson(TextWriter output, string name, ModelSummary summary) => JsonLine.Write(output, w =>
    {
        w.WriteString("model", name);
        WriteShape(w, "input_shape", summary.Input);
        w.WriteStartArray("layers");
        foreach (var layer in summary.Layers)
        {
            w.WriteStartObject();
            w.WriteString("name", layer.Name);
            w.WriteString("type", layer.Type);
            WriteShape(w, "output_shape", layer.OutputShape);
            w.WriteNumber("params", layer.Params);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteShape(w, "output_shape", summary.Output);
        w.WriteNumber("total_params", summary.TotalParams);
    });

    private static void WriteShape(System.Text.Json.Utf8JsonWriter w, string name, Shape shape)
    {
        w.WriteStartArray(name);
        foreach (int size in shape.ToArray()) w.WriteNumberValue(size);
        w.WriteEndArray();
    }

    private static void WriteTable(TextWriter output, string name, ModelSummary summary)
    {
        var rows = summary.Layers
            .Select(l => new[] { l.Name, l.Type, l.OutputShape.ToString(), l.Params.ToString("N0", CultureInfo.InvariantCulture) })
            .Prepend(["layer", "type", "output shape", "params"])
            .ToList();
        var widths = Enumerable.Range(0, 4).Select(c => rows.Max(r => r[c].Length)).ToArray();
        output.WriteLine($"{name} ({summary.Model}), input {summary.Input}");
        output.WriteLine();
        foreach (var row in rows)
            output.WriteLine($"  {row[0].PadRight(widths[0])}  {row[1].PadRight(widths[1])}  {row[2].PadRight(widths[2])}  {row[3].PadLeft(widths[3])}");
        output.WriteLine();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total parameters: {summary.TotalParams:N0}"));
        output.WriteLine($"output: {summary.Output}");
    }
}
