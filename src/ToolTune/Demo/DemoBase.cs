using System.Diagnostics;
using System.Text.Json.Nodes;
using ToolTune.Data;
using ToolTune.Data.Generation;
using ToolTune.Data.Loaders;
using ToolTune.Data.Selection;
using ToolTune.Data.Shards;
using ToolTune.Model;
using ToolTune.Tensors;
using ToolTune.Training;
using ToolTune.Text.Masks;
using ToolTune.Text.Templates;
using ToolTune.Text.Tokenization;
using ToolTune.Text.Training;

namespace ToolTune.Demo;

/// <summary>
/// The embedded default's trained "code-dumping" demo base (<c>tooltune demo make-base</c>): the demo-shaped
/// SmolLM3-architecture model (<see cref="DemoModel.Shape"/>), random-init from <see cref="DemoBaseOptions.InitSeed"/>, then
/// FULL-parameter trained (every tensor, tied embedding/head) on generated general chat and generated tool requests
/// answered with Python code calling the tool (<see cref="TrainingCorpus.AsCodeDump"/>) — the way SmolLM3 fails — plus short
/// copy drills (<see cref="Drills"/>), rendered with the fixed template (<c>enable_thinking: false</c>, date pinned), every
/// token a label but the tool-call delimiters: they exist in the vocabulary and the base never produces them.
/// Deterministic: the same options give the same bytes (fixed-order f32 arithmetic, seeded shuffle).
/// </summary>
public static class DemoBase
{
    /// <summary>Date the template's <c>strftime_now</c> sees (the demo config's <c>template_date</c>).</summary>
    public static readonly DateTime TemplateDate = new(2025, 7, 10, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Trains and writes config.json, model.safetensors (F32) and generation_config.json into <paramref name="outDir"/>.
    /// From random weights or <see cref="DemoBaseOptions.StartFrom"/>, each phase whose count or epochs are not 0, in order:
    /// the id-copy warm-up (<see cref="IdCopy"/>), the first training (<see cref="Conversations"/>), the copy lessons
    /// (<see cref="CopyConversations"/>), the recombined-value lessons (<see cref="RecombinedConversations"/>). A phase sees only
    /// the weights the previous one wrote, so stopping after one phase and starting the next from its snapshot gives the same
    /// bytes as one run.</summary>
    public static DemoBaseResult Make(string tokenizerDir, string templatePath, string outDir, DemoBaseOptions o,
        Action<string>? log = null, CancellationToken cancel = default)
    {
        var sw = Stopwatch.StartNew();
        var tok = Tokenizer.FromDirectory(tokenizerDir);
        var template = ChatTemplate.Load(templatePath);
        using var weights = o.StartFrom is { } from ? ModelWeights.Open(from) : ModelWeights.CreateRandom(DemoModel.ConfigFor(o.Preset, tok), o.InitSeed);
        foreach (var t in weights.Tensors.Values) t.Own();
        var lm = new CausalLM(weights);
        var model = new FullTrainableModel(lm);
        var padId = tok.PadTokenId ?? tok.EosTokenId ?? 0;
        var runs = new List<TrainResult>();
        var samples = 0;
        // Random ids from the model vocabulary (not the added chat tokens after it); <|im_start|> separates the two copies.
        var modelVocab = tok.Vocabulary.Count;
        var separator = tok.TokenToId("<|im_start|>") ?? 0;
        // Every conversation phase leaves out the same requests: generate them once, when the first such phase runs.
        HashSet<string>? lora = null;
        HashSet<string> LoraOnce() => lora ??= LoraRequests(o.LoraData);
        if (o.IdCopyCount > 0 && o.IdCopyEpochs > 0)
        {
            var copyIds = IdCopy(o.IdCopyCount, o.Seed + 7, modelVocab, separator);
            samples += copyIds.Count;
            runs.Add(Train(model, copyIds, padId, o.IdCopyEpochs, o.IdCopyLearningRate, o.Seed + 2, o, "id copy", log, cancel));
        }
        if (o.Epochs > 0)
        {
            var first = BuildSamples(tok, template, Conversations(o, LoraOnce()), o.MaxLength, o.TrainAllTokens);
            first.AddRange(IdCopy(o.IdCopyMixCount, o.Seed + 8, modelVocab, separator));
            samples += first.Count;
            runs.Add(Train(model, first, padId, o.Epochs, o.LearningRate, o.Seed, o, "demo base", log, cancel));
        }
        if (o.CopyEpochs > 0)
        {
            var copy = BuildSamples(tok, template, CopyConversations(o, LoraOnce()), o.MaxLength, o.CopyTrainAllTokens);
            samples += copy.Count;
            runs.Add(Train(model, copy, padId, o.CopyEpochs, o.CopyLearningRate, o.Seed + 1, o, "copy lessons", log, cancel));
        }
        if (o.RecombinedEpochs > 0)
        {
            var recombined = BuildSamples(tok, template, RecombinedConversations(o, LoraOnce()), o.MaxLength, trainAllTokens: false);
            samples += recombined.Count;
            runs.Add(Train(model, recombined, padId, o.RecombinedEpochs, o.RecombinedLearningRate, o.Seed + 3, o, "recombined values", log, cancel));
        }
        var files = DemoModel.WriteWeights(weights, weights.Config, outDir);
        var losses = runs.SelectMany(r => r.Log).ToList();
        return new DemoBaseResult(files, samples, runs.Sum(r => r.Steps), losses.Count > 0 ? losses[0].Loss : double.NaN,
            losses.Count > 0 ? losses[^1].Loss : double.NaN, sw.Elapsed);
    }

    /// <summary>One full-parameter training of <paramref name="model"/> on <paramref name="samples"/> (AdamW, cosine).</summary>
    private static TrainResult Train(FullTrainableModel model, List<(int[] Ids, int[] Labels)> samples, int padId, int epochs,
        double learningRate, long seed, DemoBaseOptions o, string label, Action<string>? log, CancellationToken cancel)
    {
        var data = new InMemoryTrainingData(samples, padId);
        var work = Path.Combine(Path.GetTempPath(), $"tt-demobase-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var trainer = new Trainer(model, data, null, new TrainerOptions
            {
                Epochs = epochs, MaxSteps = o.MaxSteps, LearningRate = learningRate, Schedule = "cosine", WarmupRatio = o.WarmupRatio,
                WeightDecay = o.WeightDecay, BatchSize = o.BatchSize, MaxTokensPerBatch = o.MaxTokensPerBatch, GradAccum = 1, MaxGradNorm = 1.0, Seed = seed,
                SaveEvery = int.MaxValue, KeepLast = 1, OutputDirectory = work, Resume = false,
            })
            {
                OnProgress = p => log?.Invoke(p.ToString()),
            };
            log?.Invoke($"{label}: {samples.Count} samples ({samples.Sum(s => s.Ids.Length):N0} tokens, {samples.Sum(s => s.Labels.Count(l => l != CrossEntropy.IgnoreIndex)):N0} trained), {trainer.TotalSteps} steps");
            var result = trainer.Run(cancel);
            if (result.Canceled) throw new OperationCanceledException("demo base training canceled");
            return result;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Random-id copy sequences: 4–24 ids below <paramref name="vocab"/>, <paramref name="separator"/>, the same ids
    /// again, only the copy a label. The classic task that forms an induction circuit (attend to the token after the earlier
    /// occurrence of the current one): what carries a multi-token value from the request into the call once its first
    /// token is written. The demo base learns it in ≈ 1,000 steps from random weights and not at all from the chat data.</summary>
    public static List<(int[] Ids, int[] Labels)> IdCopy(int count, long seed, int vocab, int separator)
    {
        var r = SplitMix64.For(seed, "id-copy");
        var list = new List<(int[], int[])>(count);
        for (var i = 0; i < count; i++)
        {
            var k = 4 + r.NextInt(21);
            var ids = new int[2 * k + 1];
            var labels = new int[2 * k + 1];
            for (var j = 0; j < k; j++) ids[j] = ids[k + 1 + j] = r.NextInt(vocab);
            ids[k] = separator;
            for (var j = 0; j < ids.Length; j++) labels[j] = j > k ? ids[j] : CrossEntropy.IgnoreIndex;
            list.Add((ids, labels));
        }
        return list;
    }

    /// <summary>The conversations of every phase <paramref name="o"/> trains (first training, copy lessons, recombined-value
    /// lessons; the id copies are not conversations), in phase order.</summary>
    public static List<Conversation> TrainingConversations(DemoBaseOptions o)
    {
        var loraRequests = LoraRequests(o.LoraData);
        return [.. o.Epochs > 0 ? Conversations(o, loraRequests) : [], .. o.CopyEpochs > 0 ? CopyConversations(o, loraRequests) : [],
            .. o.RecombinedEpochs > 0 ? RecombinedConversations(o, loraRequests) : []];
    }

    /// <summary>The first training's conversations, in a fixed order: code dumps, copy drills, then general chat.
    /// <paramref name="loraRequests"/>: <see cref="LoraRequests"/> of <c>o.LoraData</c>, when the caller has it already.</summary>
    public static List<Conversation> Conversations(DemoBaseOptions o, IReadOnlySet<string>? loraRequests = null)
    {
        loraRequests ??= LoraRequests(o.LoraData);
        return [.. CodeDumps(o, o.CodeCount, o.CodeSeed, ValuePools.Demo, loraRequests), .. Drills(o, o.DrillCount, o.DrillSeed, ValuePools.Demo, loraRequests),
            .. General(o.GeneralCount, o.GeneralSeed)];
    }

    /// <summary>The copy lessons' conversations: the same kinds, with every value drawn from <see cref="ValuePools.Wide"/>,
    /// then code dumps and drills whose requests come in many more phrasings (<see cref="ValuePools.ManyPhrasings"/>). After
    /// the first training the base picks the right tool but writes argument values from the demo pools it has memorised
    /// ("Perth" for "Seoul"); when no value can be guessed, copying the request's is all that lowers the loss, and when the
    /// sentence around the values varies, the tool has to come from the request's content words.</summary>
    public static List<Conversation> CopyConversations(DemoBaseOptions o, IReadOnlySet<string>? loraRequests = null)
    {
        loraRequests ??= LoraRequests(o.LoraData);
        var pools = ValuePools.Wide(o.CopySeed, o.CopyMadeUpValues);
        var rephrased = pools with { ManyPhrasings = true };
        return [.. CodeDumps(o, o.CopyCodeCount, o.CopySeed, pools, loraRequests), .. Drills(o, o.CopyDrillCount, o.CopySeed + 1, pools, loraRequests),
            .. General(o.CopyGeneralCount, o.CopySeed + 2), .. EchoDrills(o.CopyEchoCount, o.CopySeed + 3, pools, o.DrillTurns),
            .. CodeDumps(o, o.CopyRephrasedCodeCount, o.CopySeed + 4, rephrased, loraRequests),
            .. Drills(o, o.CopyRephrasedDrillCount, o.CopySeed + 5, rephrased, loraRequests)];
    }

    /// <summary>The recombined-value lessons: code dumps and drills in many phrasings whose values are the demo pools' words
    /// put together anew (<see cref="ValuePools.Wide"/> with <c>recombined</c>) and whose numbers have any length
    /// (<see cref="ValuePools.SpreadNumbers"/>), plus general chat. After the copy lessons the base copies a value's first
    /// token and then goes on with the pool value it knows that starts so ("hello there" for "hello world", 604 minutes for
    /// 4): here only reading on in the request lowers the loss.</summary>
    public static List<Conversation> RecombinedConversations(DemoBaseOptions o, IReadOnlySet<string>? loraRequests = null)
    {
        loraRequests ??= LoraRequests(o.LoraData);
        var pools = ValuePools.Wide(o.RecombinedSeed, o.RecombinedValues, recombined: true) with { ManyPhrasings = true, SpreadNumbers = true };
        return [.. CodeDumps(o, o.RecombinedCodeCount, o.RecombinedSeed, pools, loraRequests),
            .. Drills(o, o.RecombinedDrillCount, o.RecombinedSeed + 1, pools, loraRequests), .. General(o.RecombinedGeneralCount, o.RecombinedSeed + 2)];
    }

    /// <summary>Echo drills: "Repeat exactly: 4821 backup/plan.md Oslo" answered with the same text, <paramref name="turns"/>
    /// per conversation. Values of every kind and numbers of one to five digits: token-for-token copying in order, which a
    /// call's arguments need and the base does not learn from calls alone (it writes a number of the right size, not the
    /// request's, and the words of a path in another order).</summary>
    public static IEnumerable<Conversation> EchoDrills(int count, long seed, ValuePools pools, int turns)
    {
        var r = SplitMix64.For(seed, "echo-drills");
        string[][] kinds = [pools.Cities, pools.Rooms, pools.Colors, pools.Topics, pools.Texts, pools.Restaurants, pools.ConfigNames, pools.Symbols];
        string Value() => r.NextInt(4) switch
        {
            0 => (r.NextInt(5) switch { 0 => r.NextInt(10), 1 => r.NextInt(100), 2 => r.NextInt(1000), 3 => r.NextInt(10000), _ => r.NextInt(100000) })
                .ToString(System.Globalization.CultureInfo.InvariantCulture),
            1 => $"{pools.Folders[r.NextInt(pools.Folders.Length)]}/{pools.Stems[r.NextInt(pools.Stems.Length)]}.{(r.NextInt(2) == 0 ? "md" : "txt")}",
            _ => kinds[r.NextInt(kinds.Length)] is var k ? k[r.NextInt(k.Length)] : "",
        };
        string[] asks = ["Repeat exactly: ", "Say back: ", "Echo this: "];
        for (var i = 0; i < count; i++)
        {
            var messages = new List<Message>();
            for (var t = 0; t < turns; t++)
            {
                var text = string.Join(' ', Enumerable.Range(0, 1 + r.NextInt(5)).Select(_ => Value()));
                messages.Add(new Message(Roles.User, asks[r.NextInt(asks.Length)] + text));
                messages.Add(new Message(Roles.Assistant, text));
            }
            yield return new Conversation($"echo-{i + 1}", messages);
        }
    }

    /// <summary>Generated tool conversations answered with code, none with a request the LoRA data answers with a call.</summary>
    private static IEnumerable<Conversation> CodeDumps(DemoBaseOptions o, int count, long seed, ValuePools pools, IReadOnlySet<string> loraRequests)
    {
        var line = 0;
        foreach (var rec in HermesGenerator.GenerateExtended(count, seed, o.ExtraToolShare, pools))
        {
            line++;
            if (CodeDump(DataLoader.ConvertGenerated(rec, "gen:code", line), line, o, o.WholeConversations) is { } code
                && !code.Messages.Any(m => m.Role == Roles.User && loraRequests.Contains(m.Content ?? "")))
                yield return code;
        }
    }

    private static IEnumerable<Conversation> General(int count, long seed)
    {
        var line = 0;
        foreach (var rec in HermesGenerator.GenerateGeneral(count, seed))
            yield return DataLoader.ConvertGenerated(rec, "gen:general", ++line, DataRole.General);
    }

    /// <summary>Copy drills: <see cref="DemoBaseOptions.DrillTurns"/> requests of the demo stream per conversation, each
    /// answered with code, without tool schemas. A drill costs about a quarter of the tokens of a request under a system
    /// prompt with schemas, so the base gets several times more practice at what it learns slowest: picking the tool from
    /// the request's words and copying the request's values into the call.</summary>
    public static IEnumerable<Conversation> Drills(DemoBaseOptions o) => Drills(o, o.DrillCount, o.DrillSeed, ValuePools.Demo, LoraRequests(o.LoraData));

    private static IEnumerable<Conversation> Drills(DemoBaseOptions o, int count, long seed, ValuePools pools, IReadOnlySet<string> loraRequests)
    {
        var turns = new List<Message>();
        int line = 0, drill = 0;
        foreach (var rec in HermesGenerator.GenerateExtended(count * o.DrillTurns * 2, seed, o.ExtraToolShare, pools))
        {
            if (drill == count) yield break;
            line++;
            // The first request only, and only when it opens the conversation's user turns (no small talk before it).
            if (CodeDump(DataLoader.ConvertGenerated(rec, "gen:drill", line), line, o, wholeConversation: false) is not { } code
                || code.Messages.Count(m => m.Role == Roles.User) != 1 || code.Messages[^2].Role != Roles.User
                || loraRequests.Contains(code.Messages[^2].Content ?? "")) continue;
            turns.Add(code.Messages[^2]);
            turns.Add(code.Messages[^1]);
            if (turns.Count < 2 * o.DrillTurns) continue;
            yield return new Conversation($"drill-{++drill}", [.. turns]);
            turns.Clear();
        }
    }

    /// <summary>The requests the LoRA data (<see cref="DemoData"/>) answers with a call. The base never trains on one: the
    /// held-out items <c>base_intent_correct</c> reads come from that data, so the base has to copy their values, not recall
    /// them (small value pools make a generated request recur: without this, 13 held-out call requests were in the base's data).</summary>
    public static HashSet<string> LoraRequests(DemoDataOptions data)
    {
        var requests = new HashSet<string>(StringComparer.Ordinal);
        var line = 0;
        foreach (var rec in HermesGenerator.GenerateExtended(data.ToolCount, data.Seed, data.ExtraToolShare))
        {
            var m = DataLoader.ConvertGenerated(rec, "gen:lora", ++line).Messages;
            for (var i = 0; i + 1 < m.Count; i++)
                if (m[i].Role == Roles.User && m[i].Content is { } request && m[i + 1].Role == Roles.Assistant && m[i + 1].ToolCalls.Count > 0)
                    requests.Add(request);
        }
        return requests;
    }

    /// <summary>Record <paramref name="line"/> answered with code. Half the dumps pass the arguments as a JSON dict: the base
    /// knows the JSON a tool call carries (as SmolLM3 does), it only never wraps it in &lt;tool_call&gt; — the habit the LoRA
    /// has to teach.</summary>
    private static Conversation? CodeDump(Conversation conv, int line, DemoBaseOptions o, bool wholeConversation) =>
        TrainingCorpus.AsCodeDump(conv, line, jsonArguments: o.JsonArguments && line / 2 % 2 == 1, wholeConversation);

    /// <summary>Rendered (fixed template, <c>enable_thinking: false</c>), tokenized and masked: assistant turns trained, or
    /// with <see cref="DemoBaseOptions.TrainAllTokens"/> every token but the tool-call delimiters.</summary>
    public static List<(int[] Ids, int[] Labels)> BuildSamples(Tokenizer tok, ChatTemplate template, DemoBaseOptions o) =>
        BuildSamples(tok, template, Conversations(o), o.MaxLength, o.TrainAllTokens);

    private static List<(int[] Ids, int[] Labels)> BuildSamples(Tokenizer tok, ChatTemplate template, IEnumerable<Conversation> conversations,
        int maxLength, bool trainAllTokens)
    {
        var render = new RenderOptions { Now = TemplateDate };
        var kwargs = new JsonObject { ["enable_thinking"] = false };
        // The system prompt spells out <tool_call>…</tool_call>: as labels they would teach the base the very tokens it must
        // never produce.
        int[] neverLabels = [.. new[] { "<tool_call>", "</tool_call>" }.Select(tok.TokenToId).OfType<int>()];
        var samples = new List<(int[], int[])>();
        foreach (var conv in conversations)
        {
            var m = template.BuildMask(tok, conv.ToRenderContext(kwargs: kwargs), render);
            if (m.InputIds.Length > maxLength) continue;
            var labels = trainAllTokens
                ? m.InputIds.Select(id => neverLabels.Contains(id) ? CrossEntropy.IgnoreIndex : id).ToArray()
                : m.Labels;
            samples.Add((m.InputIds, labels));
        }
        return samples;
    }

    /// <summary>Every tensor of the decoder trainable (full fine-tuning), in name order.</summary>
    public sealed class FullTrainableModel : ITrainableModel
    {
        public FullTrainableModel(CausalLM lm)
        {
            Lm = lm;
            lm.SetTrainable(_ => true);
            Parameters = lm.Parameters.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        }

        public CausalLM Lm { get; }
        public IReadOnlyList<Param> Parameters { get; }

        public MicroResult ForwardBackward(Batch batch, long normalizer, ulong dropoutKey)
        {
            var n = BatchPlanner.TrainedTokens(batch);
            if (n == 0) return new MicroResult(0, 0);
            var mean = Lm.ForwardBackward(batch.InputIds, batch.LabelIds, batch.Rows, batch.Width, normalizer: normalizer);
            return new MicroResult(mean * normalizer, n);
        }

        public MicroResult Evaluate(Batch batch)
        {
            var n = BatchPlanner.TrainedTokens(batch);
            if (n == 0) return new MicroResult(0, 0);
            return new MicroResult(Lm.Loss(batch.InputIds, batch.LabelIds, batch.Rows, batch.Width) * n, n);
        }

        public void SaveAdapter(string directory) { }
    }

    /// <summary>Samples held in memory, padded with <paramref name="padId"/> (labels −100).</summary>
    public sealed class InMemoryTrainingData(IReadOnlyList<(int[] Ids, int[] Labels)> samples, int padId) : ITrainingData
    {
        public int Count => samples.Count;
        public int Length(int i) => samples[i].Ids.Length;

        public Batch Materialize(int[] indices)
        {
            var lengths = indices.Select(i => samples[i].Ids.Length).ToArray();
            var width = lengths.Max();
            var ids = new int[indices.Length * width];
            var labels = new int[indices.Length * width];
            ids.AsSpan().Fill(padId);
            labels.AsSpan().Fill(CrossEntropy.IgnoreIndex);
            for (var r = 0; r < indices.Length; r++)
            {
                samples[indices[r]].Ids.CopyTo(ids.AsSpan(r * width));
                samples[indices[r]].Labels.CopyTo(labels.AsSpan(r * width));
            }
            return new Batch { SampleIndices = indices, Width = width, InputIds = ids, LabelIds = labels, Lengths = lengths };
        }
    }
}

/// <summary>The recipe of <see cref="DemoBase.Make"/>; the defaults are the shipped <c>data/demo-model</c>.</summary>
public sealed record DemoBaseOptions
{
    public string Preset { get; init; } = "demo192";
    public int InitSeed { get; init; } = 1;
    public int CodeCount { get; init; } = 2000;
    public long CodeSeed { get; init; } = 8;
    public int GeneralCount { get; init; } = 400;
    /// <summary>Every other pair of code dumps calls <c>name(**{json})</c> instead of <c>name(key=value)</c>.</summary>
    public bool JsonArguments { get; init; } = true;
    /// <summary>Share of code dumps calling one of <see cref="HermesGenerator.ExtraToolNames"/> (write_file, save_config, …).</summary>
    public double ExtraToolShare { get; init; } = 0.25;
    public long GeneralSeed { get; init; } = 7;
    public int MaxLength { get; init; } = 2048;
    /// <summary>Train on every token (system prompt, tool schemas, requests: the base learns the language and JSON around
    /// the calls as a pretrained model has), not only the assistant turns; the tool-call delimiters are never labels.</summary>
    public bool TrainAllTokens { get; init; } = true;
    /// <summary>Whole conversations (tool responses, answers, follow-up requests; every call answered with code), not only
    /// the first request: the base sees the long multi-turn contexts the LoRA data and the evaluation have.</summary>
    public bool WholeConversations { get; init; } = true;
    /// <summary>Copy drills (<see cref="DemoBase.Drills"/>): conversations of <see cref="DrillTurns"/> requests, seed
    /// <see cref="DrillSeed"/>.</summary>
    public int DrillCount { get; init; } = 1500;
    public int DrillTurns { get; init; } = 3;
    public long DrillSeed { get; init; } = 9;
    public int Epochs { get; init; } = 3;
    public int? MaxSteps { get; init; }
    public int BatchSize { get; init; } = 8;
    /// <summary>Micro-batches packed by length up to this many padded tokens (drills are short, requests with schemas
    /// long); null: <see cref="BatchSize"/> samples each.</summary>
    public int? MaxTokensPerBatch { get; init; } = 4096;
    public double LearningRate { get; init; } = 3e-3;
    public double WarmupRatio { get; init; } = 0.05;
    public double WeightDecay { get; init; } = 0.0;
    public long Seed { get; init; } = 1;
    /// <summary>The LoRA data whose call requests the base never trains on (<see cref="DemoBase.LoraRequests"/>).</summary>
    public DemoDataOptions LoraData { get; init; } = new();

    /// <summary>Start from this snapshot instead of random weights; set the counts or epochs of the phases already in it to 0
    /// (<see cref="DemoBase.Make"/>).</summary>
    public string? StartFrom { get; init; }

    /// <summary>The copy lessons (<see cref="DemoBase.CopyConversations"/>): code dumps, drills and general chat with values from
    /// wide pools, seeds from <see cref="CopySeed"/>, assistant turns only (<see cref="CopyTrainAllTokens"/>); 0 epochs skips them.
    /// After the id-copy warm-up and the first training they turn a base that picks the right tool into one that copies the
    /// request's values too (data/README.md, "Copy lessons").</summary>
    public int CopyCodeCount { get; init; } = 600;
    public int CopyDrillCount { get; init; } = 16000;
    public int CopyGeneralCount { get; init; } = 200;
    /// <summary>Echo drills in the copy lessons (<see cref="DemoBase.EchoDrills"/>).</summary>
    public int CopyEchoCount { get; init; } = 0;
    public long CopySeed { get; init; } = 21;
    public int CopyEpochs { get; init; } = 3;
    /// <summary>Copy lessons train every token, not only the assistant turns (the calls, where the values are copied).</summary>
    public bool CopyTrainAllTokens { get; init; } = false;
    /// <summary>The id-copy warm-up before the first training (<see cref="DemoBase.IdCopy"/>): forms the induction circuit that
    /// carries a value's later tokens into the call (≈ 1,000 steps of plateau at lr 1e-3 first); 0 skips it.</summary>
    public int IdCopyCount { get; init; } = 300000;
    public int IdCopyEpochs { get; init; } = 1;
    public double IdCopyLearningRate { get; init; } = 1e-3;
    /// <summary>Id-copy sequences mixed into the first training, so it keeps the circuit the warm-up formed.</summary>
    public int IdCopyMixCount { get; init; } = 20000;
    /// <summary>Made-up values per kind in the copy lessons' pools (<see cref="ValuePools.Wide"/>).</summary>
    public int CopyMadeUpValues { get; init; } = 0;
    /// <summary>Copy lessons' code dumps and drills whose requests come in many more phrasings (<see cref="ValuePools.ManyPhrasings"/>),
    /// on top of the others: so the base answers requests worded unlike any LoRA request (the emission prompts) with the
    /// tool they ask for.</summary>
    public int CopyRephrasedCodeCount { get; init; } = 300;
    public int CopyRephrasedDrillCount { get; init; } = 8000;
    public double CopyLearningRate { get; init; } = 3e-3;

    /// <summary>The recombined-value lessons after the copy lessons (<see cref="DemoBase.RecombinedConversations"/>), assistant
    /// turns only; 0 epochs (the shipped recipe) skips them. <see cref="RecombinedValues"/>: recombined values per kind in the
    /// pools. Tried on the shipped base, they cost it more copies of demo values than they gained on unfamiliar ones
    /// (data/README.md, "Unfamiliar values, LoRA variants and self-distilled targets").</summary>
    public int RecombinedCodeCount { get; init; } = 200;
    public int RecombinedDrillCount { get; init; } = 6000;
    public int RecombinedGeneralCount { get; init; } = 100;
    public int RecombinedValues { get; init; } = 300;
    public long RecombinedSeed { get; init; } = 31;
    public int RecombinedEpochs { get; init; } = 0;
    public double RecombinedLearningRate { get; init; } = 2e-3;
}

public sealed record DemoBaseResult(IReadOnlyList<string> Files, int Samples, int Steps, double FirstLoss, double LastLoss, TimeSpan Elapsed);
