using Engine.Cli;

return Cli.Run(args, new CliContext(Console.Out, Console.Error, Interactive: !Console.IsOutputRedirected));
