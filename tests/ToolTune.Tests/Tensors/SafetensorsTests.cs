using System.Text;
using ToolTune.Diagnostics;
using ToolTune.Tensors;

namespace ToolTune.Tests.Tensors;

[TestClass]
public sealed class SafetensorsTests
{
    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tooltune-st-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static float[] Seq(int n, float scale = 0.37f) => Enumerable.Range(0, n).Select(i => (i - n / 2) * scale).ToArray();

    /// <summary>Raw file from a header string and a data buffer.</summary>
    private static void WriteRaw(string path, string header, byte[] data, long? declaredLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((ulong)(declaredLength ?? h.Length)));
        fs.Write(h);
        fs.Write(data);
    }

    [TestMethod]
    public void RoundTripsF32BF16F16()
    {
        var dir = TempDir();
        try
        {
            var path = Path.Combine(dir, "x.safetensors");
            var a = Seq(12);
            var b = Seq(6, 1.1f);
            SafetensorsWriter.Write(path,
            [
                SafetensorsTensor.FromSingle("a", [3, 4], a),
                SafetensorsTensor.FromSingleAsBF16("b.bf16", [6], b),
                SafetensorsTensor.FromSingleAsF16("c.f16", [2, 3], b),
                SafetensorsTensor.FromSingle("scalar", [], [7f]),
                SafetensorsTensor.FromSingle("empty", [0, 5], []),
            ], new Dictionary<string, string> { ["format"] = "pt" });
            var bytes = File.ReadAllBytes(path);
            var n = (long)BitConverter.ToUInt64(bytes, 0);
            Assert.AreEqual(0, n % 8, "header padded to a multiple of 8");
            Assert.AreEqual((byte)'{', bytes[8]);
            using var f = SafetensorsFile.Open(path);
            Assert.AreEqual("pt", f.Metadata["format"]);
            CollectionAssert.AreEqual(a, f.ReadSingle("a"));
            CollectionAssert.AreEqual(new long[] { 3, 4 }, f.Entry("a").Shape);
            var bExpected = b.Select(v => Precision.BF16ToSingle(Precision.SingleToBF16(v))).ToArray();
            CollectionAssert.AreEqual(bExpected, f.ReadSingle("b.bf16"));
            CollectionAssert.AreEqual(b.Select(v => (float)(Half)v).ToArray(), f.ReadSingle("c.f16"));
            CollectionAssert.AreEqual(new[] { 7f }, f.ReadSingle("scalar"));
            Assert.AreEqual(0, f.ReadSingle("empty").Length);
            CollectionAssert.AreEqual(a, f.F32("a").ToArray());
            CollectionAssert.AreEqual(b.Select(v => (Half)v).ToArray(), f.F16("c.f16").ToArray());
            CollectionAssert.AreEqual(bExpected, f.BF16("b.bf16").ToArray().Select(Precision.BF16ToSingle).ToArray());
            Assert.AreEqual(ErrorCodes.SafetensorsDTypeUnsupported, Assert.ThrowsExactly<ToolTuneException>(() => f.BF16("a")).Code);
            // Layout: larger dtype alignment first (F32 before 16-bit), then by name.
            Assert.IsTrue(f.Entry("a").Begin < f.Entry("b.bf16").Begin);
            Assert.IsTrue(f.Entry("scalar").Begin < f.Entry("c.f16").Begin);
        }
        finally { Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void ShardedWriteAndOpen()
    {
        var dir = TempDir();
        try
        {
            var tensors = Enumerable.Range(0, 5).Select(i => SafetensorsTensor.FromSingle($"model.layers.{i}.w", [10], Seq(10, i + 1))).ToList();
            var files = SafetensorsWriter.WriteModel(dir, tensors, maxShardBytes: 40);
            Assert.IsTrue(files.Any(f => f.EndsWith("model-00001-of-00005.safetensors", StringComparison.Ordinal)));
            Assert.IsTrue(File.Exists(Path.Combine(dir, SafetensorsCheckpoint.IndexFileName)));
            using (var ck = SafetensorsCheckpoint.Open(dir))
            {
                Assert.AreEqual(5, ck.TensorNames.Count);
                CollectionAssert.AreEqual(Seq(10, 4), ck.ReadSingle("model.layers.3.w"));
                var ex = Assert.ThrowsExactly<ToolTuneException>(() => ck.ReadSingle("nope"));
                Assert.AreEqual(ErrorCodes.SafetensorsTensorMissing, ex.Code);
            }
            File.Delete(Path.Combine(dir, "model-00004-of-00005.safetensors"));
            var missing = Assert.ThrowsExactly<ToolTuneException>(() => SafetensorsCheckpoint.Open(dir));
            Assert.AreEqual(ErrorCodes.SafetensorsShardMissing, missing.Code);
            StringAssert.Contains(missing.File, "model-00004-of-00005.safetensors");
            StringAssert.Contains(missing.Message, "model.layers.3.w");

            var single = TempDir();
            SafetensorsWriter.WriteModel(single, tensors);
            Assert.IsTrue(File.Exists(Path.Combine(single, "model.safetensors")));
            using (var ck = SafetensorsCheckpoint.Open(single)) Assert.AreEqual(5, ck.TensorNames.Count);
            Directory.Delete(single, true);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static ToolTuneException OpenFails(string path) => Assert.ThrowsExactly<ToolTuneException>(() => SafetensorsFile.Open(path).Dispose());

    [TestMethod]
    public void BadInputsNameFileAndTensor()
    {
        var dir = TempDir();
        try
        {
            var path = Path.Combine(dir, "bad.safetensors");
            var data = new byte[16];

            // Truncated: valid file with its last bytes cut off.
            SafetensorsWriter.Write(path, [SafetensorsTensor.FromSingle("w", [4], [1, 2, 3, 4])]);
            var full = File.ReadAllBytes(path);
            File.WriteAllBytes(path, full[..^3]);
            var ex = OpenFails(path);
            Assert.AreEqual(ErrorCodes.SafetensorsTruncated, ex.Code);
            Assert.AreEqual(path, ex.File);
            StringAssert.Contains(ex.Message, "'w'");

            File.WriteAllBytes(path, new byte[5]);
            Assert.AreEqual(ErrorCodes.SafetensorsTruncated, OpenFails(path).Code);

            // Header length past the end of the file.
            WriteRaw(path, "{}", [], declaredLength: 1000);
            Assert.AreEqual(ErrorCodes.SafetensorsTruncated, OpenFails(path).Code);

            // Offsets that disagree with the shape.
            WriteRaw(path, """{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}""", data);
            ex = OpenFails(path);
            Assert.AreEqual(ErrorCodes.SafetensorsOffsetMismatch, ex.Code);
            StringAssert.Contains(ex.Message, "'w'");

            // Hole between tensors.
            WriteRaw(path, """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", data);
            ex = OpenFails(path);
            Assert.AreEqual(ErrorCodes.SafetensorsOffsetMismatch, ex.Code);
            StringAssert.Contains(ex.Message, "'b'");

            // Trailing bytes after the last tensor.
            WriteRaw(path, """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", data);
            Assert.AreEqual(ErrorCodes.SafetensorsOffsetMismatch, OpenFails(path).Code);

            // Unknown dtype.
            WriteRaw(path, """{"w":{"dtype":"F7","shape":[4],"data_offsets":[0,16]}}""", data);
            ex = OpenFails(path);
            Assert.AreEqual(ErrorCodes.SafetensorsUnknownDType, ex.Code);
            StringAssert.Contains(ex.Message, "'w'");
            StringAssert.Contains(ex.Message, "F7");

            // Not JSON.
            WriteRaw(path, "{nope", data);
            Assert.AreEqual(ErrorCodes.SafetensorsHeaderInvalid, OpenFails(path).Code);

            // Missing file and a non-float read.
            Assert.AreEqual(ErrorCodes.SafetensorsFileMissing, OpenFails(Path.Combine(dir, "none.safetensors")).Code);
            WriteRaw(path, """{"i":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}}""", data);
            using var f = SafetensorsFile.Open(path);
            Assert.AreEqual(ErrorCodes.SafetensorsDTypeUnsupported, Assert.ThrowsExactly<ToolTuneException>(() => f.ReadSingle("i")).Code);
        }
        finally { Directory.Delete(dir, true); }
    }

    [TestMethod]
    public void ReadsReferenceLayoutAndWritesItByteForByte()
    {
        var path = SharedFixtures.Fixture("engine", "tiny.safetensors");
        using var expectDoc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(SharedFixtures.Fixture("engine", "tiny.safetensors.json")));
        using var f = SafetensorsFile.Open(path);
        var rewrite = new List<SafetensorsTensor>();
        foreach (var t in expectDoc.RootElement.EnumerateObject())
        {
            var dtype = t.Value.GetProperty("dtype").GetString()!;
            var shape = t.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var values = t.Value.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            var e = f.Entry(t.Name);
            Assert.AreEqual(dtype, e.DType, t.Name);
            CollectionAssert.AreEqual(shape, e.Shape, t.Name);
            if (dtype == "I64")
                CollectionAssert.AreEqual(values.Select(v => (long)v).ToArray(), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(f.Raw(t.Name)).ToArray());
            else
                CollectionAssert.AreEqual(values.Select(v => (float)v).ToArray(), f.ReadSingle(t.Name), t.Name);
            rewrite.Add(new SafetensorsTensor(t.Name, dtype, shape, f.Raw(t.Name).ToArray()));
        }
        var dir = TempDir();
        try
        {
            var copy = Path.Combine(dir, "copy.safetensors");
            SafetensorsWriter.Write(copy, rewrite, new Dictionary<string, string> { ["format"] = "pt" });
            CollectionAssert.AreEqual(File.ReadAllBytes(path), File.ReadAllBytes(copy), "writer matches the reference layout byte for byte");
        }
        finally { Directory.Delete(dir, true); }
    }
}
