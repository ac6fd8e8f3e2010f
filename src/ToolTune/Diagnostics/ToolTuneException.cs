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

/// <summary>
/// Several located errors at once (e.g. every VerifyTokens violation): MSBuild tasks log each as its own error and
/// the CLI prints each on its own line. The exception itself carries the first error's code and location.
/// </summary>
public sealed class ToolTuneMultiException : ToolTuneException
{
    public ToolTuneMultiException(IReadOnlyList<ToolTuneException> errors, string? summary = null)
        : base(First(errors).Code, summary ?? First(errors).Message, First(errors).File, First(errors).Line, First(errors).Column)
    {
        Errors = errors;
    }

    public IReadOnlyList<ToolTuneException> Errors { get; }

    private static ToolTuneException First(IReadOnlyList<ToolTuneException> errors) =>
        errors is { Count: > 0 } ? errors[0] : throw new ArgumentException("at least one error is required", nameof(errors));

    /// <summary>One <c>file(line,col): error TT####: …</c> line per error.</summary>
    public override string ToString() => string.Join(Environment.NewLine, Errors.Select(e => e.ToString()));
}
