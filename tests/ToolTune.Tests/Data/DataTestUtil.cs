using System.Text;
using ToolTune.Data;
using ToolTune.Data.Loaders;
using ToolTune.Data.Shards;
using ToolTune.Tensors;

namespace ToolTune.Tests.Data;

/// <summary>Temp folders and a synthetic encoder for the data tests (the real encoder lives in the text layer).</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tooltune-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name, string content)
    {
        var p = System.IO.Path.Combine(Path, name);
        System.IO.File.WriteAllText(p, content, new UTF8Encoding(false));
        return p;
    }

    public string Bytes(string name, byte[] content)
    {
        var p = System.IO.Path.Combine(Path, name);
        System.IO.File.WriteAllBytes(p, content);
        return p;
    }

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Deterministic stand-in for the tokenizer + template: one id per UTF-8 byte (offset 1000), role markers, and the
/// SmolLM3 tool-call ids 128015/128016 around each call; labels on assistant turns only.
/// </summary>
internal sealed class SyntheticEncoder(int maxLength = int.MaxValue) : ISampleEncoder
{
    public const int CallStart = 128015, CallEnd = 128016, Eot = 128012;

    public EncodedSample Encode(Conversation c)
    {
        var ids = new List<int>();
        var labels = new List<int>();
        void Add(int id, bool trained) { ids.Add(id); labels.Add(trained ? id : CrossEntropy.IgnoreIndex); }
        void Text(string s, bool trained) { foreach (var b in Encoding.UTF8.GetBytes(s)) Add(1000 + b, trained); }
        foreach (var t in c.Tools) Text(t.ToJsonString(), false);
        foreach (var m in c.Messages)
        {
            var trained = m.Role == Roles.Assistant;
            Add(m.Role switch { "system" => 1, "user" => 2, "assistant" => 3, _ => 4 }, false);
            Text(m.Content ?? "", trained);
            foreach (var call in m.ToolCalls)
            {
                Add(CallStart, trained);
                Text(call.ToString(), trained);
                Add(CallEnd, trained);
            }
            Add(Eot, trained);
        }
        if (ids.Count > maxLength) return EncodedSample.Dropped(DropReasons.OverMaxLength, $"{ids.Count} tokens > {maxLength}");
        return EncodedSample.Success(ids.ToArray(), labels.ToArray());
    }
}
