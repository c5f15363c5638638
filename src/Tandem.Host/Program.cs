using Tandem.Host;

return await CliApp.RunAsync(args, Console.Out, Console.Error);
