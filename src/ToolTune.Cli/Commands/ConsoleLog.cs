using ToolTune.Pipeline.Stages;

namespace ToolTune.Cli.Commands;

/// <summary>Stage messages to stdout, warnings as <c>file(line,col): warning TT####: …</c> to stderr.</summary>
internal sealed class ConsoleLog : IPipelineLog
{
    public static readonly ConsoleLog Instance = new();

    public void Message(string text, bool important = false) => Console.WriteLine(text);

    public void Warning(string code, string message, string? file = null, int line = 0, int column = 0)
    {
        var location = file is null ? "" : line > 0 ? (column > 0 ? $"{file}({line},{column}): " : $"{file}({line}): ") : $"{file}: ";
        Console.Error.WriteLine($"{location}warning {code}: {message}");
    }
}
