using ToolTune.Evaluation;
using ToolTune.Evaluation.Endpoint;
using ToolTune.Torch;

namespace ToolTune.Pipeline.Config;

// The typed run configuration. Property names map to the YAML keys in snake_case
// (LearningRate <-> learning_rate): ConfigLoader binds them and ConfigCanonical serialises them
// with the same names, so fingerprints are keyed exactly like the YAML the user writes.
// Paths are kept as written (relative to the project root); resolve them with PipelineConfig.Resolve.
// A few sections are library types used as they are (Torch.TorchOptions, Evaluation.Gate, Evaluation.Endpoint.EndpointOptions):
// their property names are YAML and fingerprint keys too, so renaming one there changes configs and stamps.

/// <summary>A whole run config: one YAML file plus its overrides, validated.</summary>
public sealed record PipelineConfig
{
    public RunSection Run { get; init; } = new();
    public ModelSection Model { get; init; } = new();
    public DataSection Data { get; init; } = new();
    public TokensSection Tokens { get; init; } = new();
    public LoraSection Lora { get; init; } = new();
    public TrainSection Train { get; init; } = new();
    public EvalSection Eval { get; init; } = new();

    /// <summary>The top-level section names, in file order of the documentation.</summary>
    public static IReadOnlyList<string> SectionNames { get; } = ["run", "model", "data", "tokens", "lora", "train", "eval"];
}

public sealed record RunSection
{
    /// <summary>Run name: the artifacts folder is <c>&lt;artifacts_dir&gt;/&lt;name&gt;</c>.</summary>
    public string Name { get; init; } = "default";
    public string? Description { get; init; }
    public int Seed { get; init; } = 42;
    public string ArtifactsDir { get; init; } = "artifacts";
}

public sealed record ModelSection
{
    /// <summary>Hugging Face snapshot folder of the base model (config.json, safetensors).</summary>
    public string? BaseModel { get; init; }
    /// <summary>Folder with tokenizer.json (+ tokenizer_config.json); defaults to the base model folder.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>A chat template: a path to a <c>.jinja</c> file, or empty to use the tokenizer's own.</summary>
    public string? ChatTemplate { get; init; }
    public string Dtype { get; init; } = "bf16";
    /// <summary>Extra chat-template variables (e.g. <c>enable_thinking: false</c>), passed to every render like
    /// <c>apply_chat_template(**kwargs)</c>. Scalars (string, number, bool) only; keys sorted when fingerprinted.</summary>
    public SortedDictionary<string, System.Text.Json.Nodes.JsonNode?> TemplateKwargs { get; init; } = new(StringComparer.Ordinal);
    /// <summary>The date templates see through <c>strftime_now</c> (ISO <c>yyyy-MM-dd</c>), pinned so shards do not
    /// depend on the day they were built.</summary>
    public string TemplateDate { get; init; } = "2025-07-10";

    public static IReadOnlyList<string> Dtypes { get; } = ["bf16", "fp16", "fp32"];
}

public sealed record DataSection
{
    public IReadOnlyList<DataSource> Sources { get; init; } = [];
    /// <summary>Fraction of tool-calling conversations in the training mix (the rest is general data).</summary>
    public double ToolRatio { get; init; } = 0.7;
    public double ValFraction { get; init; } = 0.05;
    /// <summary>How many held-out conversations form the tool-eval set.</summary>
    public int ToolEvalCount { get; init; } = 64;
    public int MaxSeqLen { get; init; } = 2048;
    /// <summary>Strict: a bad record fails the build. Lenient (default): it is skipped and counted.</summary>
    public bool Strict { get; init; }

    /// <summary>Drop training conversations that open with the same user prompt as a held-out eval conversation.</summary>
    public bool Decontaminate { get; init; } = true;
    /// <summary>Number of rendered samples written to the preview file.</summary>
    public int PreviewCount { get; init; } = 5;

    /// <summary>Keep tool-source conversations that offer tools but call none (they teach when not to call) instead of
    /// dropping them with TT3008. Left out of the fingerprint when false, so configs without it keep their stamps.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool KeepNoCall { get; init; }

    public static IReadOnlyList<string> Formats { get; } = ["hermes", "openai", "instruct"];
    public static IReadOnlyList<string> Kinds { get; } = ["tool", "general"];
}

public sealed record DataSource
{
    /// <summary>A file, or a folder whose files (recursively, ordinal order) are all read.</summary>
    public string Path { get; init; } = "";
    public string Format { get; init; } = "hermes";
    public string Kind { get; init; } = "tool";
    /// <summary>Read at most this many records (null: all).</summary>
    public int? Limit { get; init; }
}

public sealed record TokensSection
{
    public IReadOnlyList<string> ToolCall { get; init; } = ["<tool_call>", "</tool_call>"];
    public IReadOnlyList<string> ToolResponse { get; init; } = ["<tool_response>", "</tool_response>"];
    /// <summary>Optional id assertions, e.g. tool_call: [128015, 128016] for SmolLM3.</summary>
    public ExpectIds ExpectIds { get; init; } = new();
    /// <summary>The end-of-turn token that must be trained (null: taken from the tokenizer config).</summary>
    public string? EndOfTurn { get; init; }
}

public sealed record ExpectIds
{
    public IReadOnlyList<int>? ToolCall { get; init; }
    public IReadOnlyList<int>? ToolResponse { get; init; }
}

public sealed record LoraSection
{
    public int R { get; init; } = 16;
    public double Alpha { get; init; } = 32;
    public double Dropout { get; init; } = 0.05;
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj"];
    /// <summary>Tokens whose embedding rows are trained (PEFT trainable_token_indices), e.g. the delimiters.</summary>
    public IReadOnlyList<string> TrainableTokens { get; init; } = [];
}

public sealed record TrainSection
{
    public int Epochs { get; init; } = 3;
    public int? MaxSteps { get; init; }
    public double LearningRate { get; init; } = 2e-4;
    public IReadOnlyList<double> Betas { get; init; } = [0.9, 0.999];
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; }
    public string Schedule { get; init; } = "cosine";
    public double WarmupRatio { get; init; } = 0.03;
    public int BatchSize { get; init; } = 1;
    public int GradAccum { get; init; } = 8;
    /// <summary>Token budget per micro-batch (null: batch_size sequences).</summary>
    public int? MaxTokensPerBatch { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public bool GradientCheckpointing { get; init; } = true;
    /// <summary>Training seed (null: run.seed).</summary>
    public int? Seed { get; init; }
    /// <summary>Evaluate every N optimizer steps (0: once per epoch).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Checkpoint every N optimizer steps (0: once per epoch).</summary>
    public int SaveEvery { get; init; }
    public int KeepLast { get; init; } = 2;

    /// <summary>Which engine trains: <c>managed</c> (ToolTune's own, the CPU default) or <c>torch</c> (PyTorch ranks
    /// started by ToolTune: GPUs, several GPUs, several machines). Fingerprinted through <see cref="BackendKey"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public string Backend { get; init; } = "managed";
    /// <summary>How the torch backend is launched (<c>train.torch.*</c>).</summary>
    [System.Text.Json.Serialization.JsonIgnore] public TorchOptions Torch { get; init; } = new();

    // Fingerprint view: the default backend adds no key, so configs written before the backend existed keep their
    // fingerprints; with torch, the device decides the arithmetic (bf16 on CUDA) and is fingerprinted, the launch
    // plumbing (interpreter, rank count, addresses) is not: 1 or 8 ranks give the same update up to reduction order.
    [System.Text.Json.Serialization.JsonPropertyName("backend")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? BackendKey => Backend == "managed" ? null : Backend;

    [System.Text.Json.Serialization.JsonPropertyName("torch_device")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? TorchDeviceKey => Backend == "torch" ? Torch.Device : null;

    public static IReadOnlyList<string> Schedules { get; } = ["cosine", "linear", "constant"];
    public static IReadOnlyList<string> Backends { get; } = ["managed", "torch"];
}

public sealed record EvalSection
{
    public int MaxNewTokens { get; init; } = 256;
    public double Temperature { get; init; }
    /// <summary>Optional prompts file for the token-emission check.</summary>
    public string? Prompts { get; init; }
    public bool CompareBase { get; init; } = true;
    public IReadOnlyList<Gate> Gates { get; init; } = [];
    /// <summary>Which engine generates: <c>managed</c> or <c>torch</c> (launched like <c>train.torch</c>: its interpreter and
    /// device). Fingerprinted through <see cref="BackendKey"/> only when not the default.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public string Backend { get; init; } = "managed";

    [System.Text.Json.Serialization.JsonPropertyName("backend")]
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? BackendKey => Backend == "managed" ? null : Backend;

    /// <summary>Evaluate through an OpenAI-compatible server (vLLM, <c>tooltune serve</c>) instead of in-process generation.
    /// Left out of the fingerprint when unset, so configs without it keep their stamps.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public EndpointOptions? Endpoint { get; init; }

    /// <summary>Metric names a gate may use (the Evaluate stage reports these).</summary>
    public static IReadOnlyList<string> Metrics { get; } = [.. Evaluation.MetricCatalog.Names];
}
