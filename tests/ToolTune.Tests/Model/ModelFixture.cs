using System.Text.Json;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Tests.Model;

/// <summary>A committed PyTorch-oracle fixture (tests/oracles/model/make_model_fixtures.py).</summary>
internal sealed class ModelFixture : IDisposable
{
    public ModelFixture(string name)
    {
        Dir = SharedFixtures.Fixture("model", name);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json")));
        var r = doc.RootElement;
        Batch = r.GetProperty("batch").GetInt32();
        Seq = r.GetProperty("seq").GetInt32();
        Ids = r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Labels = r.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Loss = r.GetProperty("loss").GetDouble();
        GreedyPrompt = r.GetProperty("greedy_prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Greedy = r.GetProperty("greedy").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Expected = SafetensorsFile.Open(Path.Combine(Dir, "expected.safetensors"));
        Weights = ModelWeights.Open(Dir);
    }

    public string Dir { get; }
    public int Batch { get; }
    public int Seq { get; }
    public int[] Ids { get; }
    public int[] Labels { get; }
    public double Loss { get; }
    public int[] GreedyPrompt { get; }
    public int[] Greedy { get; }
    public SafetensorsFile Expected { get; }
    public ModelWeights Weights { get; }

    public float[] Get(string name) => Expected.ReadSingle(name);

    /// <summary>‖a − b‖ / ‖b‖ over the concatenation of the given pairs.</summary>
    public static double GlobalRel(IEnumerable<(float[] Actual, float[] Expected)> pairs)
    {
        double num = 0, den = 0;
        foreach (var (a, e) in pairs)
        {
            Assert.AreEqual(e.Length, a.Length);
            for (var i = 0; i < a.Length; i++) { var d = (double)a[i] - e[i]; num += d * d; den += (double)e[i] * e[i]; }
        }
        return Math.Sqrt(num / Math.Max(den, 1e-300));
    }

    public static double MaxAbs(float[] a, float[] e)
    {
        Assert.AreEqual(e.Length, a.Length);
        double m = 0;
        for (var i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - e[i]));
        return m;
    }

    public void Dispose()
    {
        Weights.Dispose();
        Expected.Dispose();
    }
}
