namespace ToolTune.Diagnostics;

public static partial class ErrorCodes
{
    // Output storage (TT206x): the operating system refused a write. Messages name the path and the OS reason;
    // the stage's temporary output is removed and the previous outputs, manifest and stamps are kept.
    /// <summary>No space left on the device (ENOSPC, EDQUOT; Windows ERROR_DISK_FULL).</summary>
    public const string DiskFull = "TT2060";
    /// <summary>The output is on a read-only file system (EROFS; Windows ERROR_WRITE_PROTECT).</summary>
    public const string ReadOnlyFileSystem = "TT2061";
    /// <summary>The OS denied access to an output path (EACCES, EPERM).</summary>
    public const string OutputAccessDenied = "TT2062";
}
