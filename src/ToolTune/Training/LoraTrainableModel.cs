using ToolTune.Data.Shards;
using ToolTune.Lora;
using ToolTune.Model;

namespace ToolTune.Training;

/// <summary>
/// The decoder with a LoRA adapter attached, as an <see cref="ITrainableModel"/>: base weights frozen, only adapter
/// tensors trainable; a micro-batch runs <see cref="CausalLM.ForwardBackward"/> with the step's trained-token count as
/// normalizer (so accumulated gradients are those of Σ NLL / N), dropout keyed per micro-batch.
/// </summary>
public sealed class LoraTrainableModel : ITrainableModel
{
    private readonly HashSet<Param> _trainable;

    public LoraTrainableModel(CausalLM lm, LoraAdapter adapter)
    {
        Lm = lm;
        Adapter = adapter;
        adapter.Attach(lm);
        _trainable = adapter.Parameters.ToHashSet();
        foreach (var p in lm.Parameters)
            if (!_trainable.Contains(p)) p.Freeze();
        Parameters = adapter.Parameters;
    }

    public CausalLM Lm { get; }
    public LoraAdapter Adapter { get; }
    public IReadOnlyList<Param> Parameters { get; }

    public MicroResult ForwardBackward(Batch batch, long normalizer, ulong dropoutKey)
    {
        Adapter.SetDropoutKey(dropoutKey);
        try
        {
            var n = BatchPlanner.TrainedTokens(batch);
            if (n == 0) return new MicroResult(0, 0);
            var mean = Lm.ForwardBackward(batch.InputIds, batch.LabelIds, batch.Rows, batch.Width, normalizer: normalizer);
            return new MicroResult(mean * normalizer, n);
        }
        finally { Adapter.SetDropoutKey(null); }
    }

    public MicroResult Evaluate(Batch batch)
    {
        Adapter.SetDropoutKey(null);
        var n = BatchPlanner.TrainedTokens(batch);
        if (n == 0) return new MicroResult(0, 0);
        return new MicroResult(Lm.Loss(batch.InputIds, batch.LabelIds, batch.Rows, batch.Width) * n, n);
    }

    public void SaveAdapter(string directory) => PeftAdapterIO.Save(directory, Adapter);
}
