using System.Globalization;
using Engine.Cpu;
using Engine.Models;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>"engine summary": a model's layers with output shapes and parameter counts (computed by <see cref="ModelSummary"/>).</summary>
public static class SummaryCommand
{
    public static readonly CommandSpec Spec = new("summary", "List a model's layers: output shapes, parameters, multiply-adds, activation memory, receptive fields.",
    [
        new("model", "NAME", $"model to describe ({string.Join(", ", ModelZoo.Names)})", TrainCommand.DefaultModel),
        new("input", "N,C,H,W", "input shape", "the model's usual input, e.g. 1,1,28,28 for lenet5, 1,3,224,224 for resnet18"),
        new("num-classes", "K", "number of output classes", "the model's usual classes (10 for lenet5, 1000 for ImageNet models)"),
        new("json", null, "print one JSON object (layers: [{name, type, output_shape, params, macs, activation_bytes, receptive_field, effective_stride}], total_params, total_macs) and nothing else"),
    ]);

    public static int Run(ParsedOptions options, CliContext context)
    {
        var entry = ModelZoo.Find(options.String("model", TrainCommand.DefaultModel));
        var input = options.Shape("input", rank: 4) ?? entry.DefaultInput(entry.DefaultChannels);
        int classes = options.Int("num-classes", entry.DefaultClasses, min: 1);
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
            w.WriteNumber("macs", layer.Macs);
            w.WriteNumber("activation_bytes", layer.ActivationBytes);
            if (layer.ReceptiveField is { } rf)
            {
                WritePair(w, "receptive_field", rf.Height, rf.Width);
                WritePair(w, "effective_stride", rf.JumpHeight, rf.JumpWidth);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteShape(w, "output_shape", summary.Output);
        w.WriteNumber("total_params", summary.TotalParams);
        w.WriteNumber("total_macs", summary.TotalMacs);
        w.WriteNumber("total_activation_bytes", summary.TotalActivationBytes);
    });

    private static void WritePair(System.Text.Json.Utf8JsonWriter w, string name, double a, double b)
    {
        w.WriteStartArray(name);
        w.WriteNumberValue(a);
        w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    private static void WriteShape(System.Text.Json.Utf8JsonWriter w, string name, Shape shape)
    {
        w.WriteStartArray(name);
        foreach (int size in shape.ToArray()) w.WriteNumberValue(size);
        w.WriteEndArray();
    }

    private static void WriteTable(TextWriter output, string name, ModelSummary summary)
    {
        static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
        var rows = summary.Layers
            .Select(l => new[]
            {
                l.Name, l.Type, l.OutputShape.ToString(), N(l.Params), N(l.Macs), N(l.ActivationBytes / 1024) + " KiB",
                l.ReceptiveField is { } rf ? $"{F(rf.Height)}x{F(rf.Width)}" : "-",
                l.ReceptiveField is { } j ? $"{F(j.JumpHeight)}x{F(j.JumpWidth)}" : "-",
            })
            .Prepend(["layer", "type", "output shape", "params", "mult-adds", "activations", "receptive field", "stride"])
            .ToList();
        var widths = Enumerable.Range(0, 8).Select(c => rows.Max(r => r[c].Length)).ToArray();
        output.WriteLine($"{name} ({summary.Model}), input {summary.Input}");
        output.WriteLine();
        foreach (var row in rows)
            output.WriteLine("  " + string.Join("  ", row.Select((cell, c) => c >= 3 && c <= 5 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]))));
        output.WriteLine();
        output.WriteLine($"total parameters: {N(summary.TotalParams)}");
        output.WriteLine($"total multiply-adds: {N(summary.TotalMacs)}");
        output.WriteLine($"activation memory: {N(summary.TotalActivationBytes / 1024)} KiB");
        output.WriteLine($"output: {summary.Output}");
    }
}
