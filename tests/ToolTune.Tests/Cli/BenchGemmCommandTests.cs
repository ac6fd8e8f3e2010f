using System.Text.Json;
using ToolTune.Cli.Commands;
using ToolTune.Tensors;

namespace ToolTune.Tests.Cli;

[TestClass]
public sealed class BenchGemmCommandTests
{
    [TestMethod]
    public void PrintsOneJsonLinePerShapeAndVariant()
    {
        var output = new StringWriter();
        BenchGemmCommand.Run([(33, 17, 65), (8, 8, 8)], reps: 1, GemmPath.Auto, threads: 1, output);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(6, lines.Length);
        var variants = new List<string>();
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            Assert.AreEqual("gemm", r.GetProperty("bench").GetString());
            Assert.IsTrue(r.GetProperty("gflops").GetDouble() > 0);
            variants.Add(r.GetProperty("variant").GetString()!);
        }
        CollectionAssert.AreEqual(new[] { "NN", "NT", "TN", "NN", "NT", "TN" }, variants);
    }
}
