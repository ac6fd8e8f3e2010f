using ToolTune.Diagnostics;

namespace ToolTune.Tests;

[TestClass]
public sealed class DiagnosticsTests
{
    [TestMethod]
    public void ExceptionFormatsLocationLikeMSBuild()
    {
        var ex = new ToolTuneException(ErrorCodes.TemplateSyntax, "unexpected 'endfor'", "t.jinja", 3, 7);
        Assert.AreEqual("t.jinja(3,7): error TT1201: unexpected 'endfor'", ex.ToString());
        Assert.AreEqual("error TT1100: x", new ToolTuneException(ErrorCodes.TokenizerFileMissing, "x").ToString());
    }
}
