namespace Engine.Cli;

/// <summary>The benchmark command. A placeholder until the benchmark cases land.</summary>
public static class BenchCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("error: bench is not implemented in this build yet");
        return 2;
    }
}
