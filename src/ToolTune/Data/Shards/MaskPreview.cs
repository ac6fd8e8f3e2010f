using System.Text;
using ToolTune.Tensors;

namespace ToolTune.Data.Shards;

/// <summary>
/// Human-readable preview of encoded samples with the loss mask visible (the Axolotl/LLaMA-Factory "print sample"
/// pattern): trained spans are wrapped in <c>⟦…⟧</c>, everything else is context. The decoder comes from the text layer.
/// </summary>
public static class MaskPreview
{
    public const string TrainedOpen = "⟦";
    public const string TrainedClose = "⟧";

    /// <summary>Decodes runs of equal mask state in one call each, so multi-byte pieces decode correctly.</summary>
    public static string Render(ReadOnlySpan<int> ids, ReadOnlySpan<int> labels, Func<int[], string> decode)
    {
        if (ids.Length != labels.Length) throw new ArgumentException("ids and labels differ in length");
        var sb = new StringBuilder();
        var i = 0;
        while (i < ids.Length)
        {
            var trained = labels[i] != CrossEntropy.IgnoreIndex;
            var j = i;
            while (j < ids.Length && (labels[j] != CrossEntropy.IgnoreIndex) == trained) j++;
            var text = decode(ids[i..j].ToArray());
            if (trained) sb.Append(TrainedOpen).Append(text).Append(TrainedClose);
            else sb.Append(text);
            i = j;
        }
        return sb.ToString();
    }

    /// <summary>A Markdown section per sample: id, source location, token counts, then the masked text in a fence.</summary>
    public static string RenderSamples(ShardSet set, IEnumerable<int> indices, Func<int[], string> decode)
    {
        var sb = new StringBuilder();
        sb.Append("Trained tokens are shown between ").Append(TrainedOpen).Append(" and ").Append(TrainedClose).Append(".\n\n");
        foreach (var i in indices)
        {
            var meta = set.Meta(i);
            var ids = set.InputIds(i);
            var labels = set.LabelIds(i);
            var trained = 0;
            foreach (var l in labels) if (l != CrossEntropy.IgnoreIndex) trained++;
            sb.Append("## ").Append(meta.Id).Append('\n')
              .Append("source: ").Append(meta.File).Append('(').Append(meta.Line).Append("), tokens: ").Append(ids.Length)
              .Append(", trained: ").Append(trained).Append(", tool calls: ").Append(meta.ToolCalls).Append("\n\n````text\n")
              .Append(Render(ids, labels, decode)).Append("\n````\n\n");
        }
        return sb.ToString();
    }
}
