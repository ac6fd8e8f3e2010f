namespace ToolTune.Diagnostics;

/// <summary>
/// An expected, user-facing failure: carries a stable <c>TT####</c> code and, when known, the file and
/// 1-based line/column it is about. MSBuild tasks and the CLI turn it into a located error message.
/// </summary>
public class ToolTuneException : Exception
{
    public ToolTuneException(string code, string message, string? file = null, int line = 0, int column = 0, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>Stable error code, <c>TT</c> followed by four digits (see <see cref="ErrorCodes"/>).</summary>
    public string Code { get; }

    /// <summary>The file the error is about, if any.</summary>
    public string? File { get; }

    /// <summary>1-based line, 0 when unknown.</summary>
    public int Line { get; }

    /// <summary>1-based column, 0 when unknown.</summary>
    public int Column { get; }

    /// <summary>Canonical <c>file(line,col): error TT####: message</c> form, as MSBuild and compilers print it.</summary>
    public override string ToString()
    {
        var location = File is null ? "" :
            Line > 0 ? (Column > 0 ? $"{File}({Line},{Column}): " : $"{File}({Line}): ") : $"{File}: ";
        return $"{location}error {Code}: {Message}";
    }
}
