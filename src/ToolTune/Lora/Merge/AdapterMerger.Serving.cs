using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;
using ToolTune.Diagnostics;
using ToolTune.Model;
using ToolTune.Tensors;

namespace ToolTune.Lora.Merge;

// serving.md: how to serve the merged snapshot, or the base with the adapter.
public static partial class AdapterMerger
{
    /// <summary>vLLM's <c>--max-lora-rank</c> must be one of its supported sizes ≥ r.</summary>
    public static int VllmMaxLoraRank(int r) => new[] { 1, 8, 16, 32, 64, 128, 256, 320, 512 }.FirstOrDefault(x => x >= r, r);

    /// <summary>True when the template has a thinking mode (SmolLM3's <c>enable_thinking</c>, <c>&lt;think&gt;</c> blocks).</summary>
    public static bool TemplateHasThinkingMode(string? template) =>
        template is not null && (template.Contains("enable_thinking", StringComparison.Ordinal) || template.Contains("<think>", StringComparison.Ordinal));

    /// <summary>A folder as serving.md shows it: relative to <paramref name="pathBase"/>, '/' separated, never absolute.</summary>
    internal static string DisplayPath(string path, string pathBase)
    {
        var rel = Path.GetRelativePath(pathBase, Path.GetFullPath(path));
        if (Path.IsPathRooted(rel)) rel = Path.GetFileName(Path.TrimEndingDirectorySeparator(rel));
        rel = rel.Replace('\\', '/');
        return rel.Length == 0 || rel == "." ? "." : rel;
    }

    private static string ServingMarkdown(MergeOptions o, LoraAdapter adapter, MergePlan plan, string? template, IReadOnlyList<int> stopIds, string outDir)
    {
        // Paths as the user will see them (the stage writes into a temp folder that becomes the output), relative to the
        // project root: serving.md is an output, and the same inputs give the same bytes in any checkout folder.
        var pathBase = Path.GetFullPath(o.PathBase ?? Directory.GetCurrentDirectory());
        var final = DisplayPath(o.PublishedDir ?? outDir, pathBase);
        var baseDir = DisplayPath(o.BaseDir, pathBase);
        var adapterDir = DisplayPath(o.AdapterDir, pathBase);
        var hasTemplate = template is not null;
        var thinkingMode = TemplateHasThinkingMode(template);
        var common = new StringBuilder();
        common.Append(" \\\n  --enable-auto-tool-choice --tool-call-parser hermes");
        // Content given as a list of parts is joined into one string before rendering: the template expects strings.
        common.Append(" \\\n  --chat-template-content-format string");
        if (o.Thinking) common.Append(" \\\n  --reasoning-parser deepseek_r1");
        var sb = new StringBuilder();
        sb.AppendLine("# Serving this model");
        sb.AppendLine();
        sb.AppendLine("Written by `tooltune merge` (ToolTune MergeAdapter). Tool calls are emitted as native `<tool_call>…</tool_call>` tokens");
        sb.AppendLine("and parsed by vLLM's Hermes parser; the chat template is the one the model was trained with.");
        sb.AppendLine("Paths are relative to the project root (the folder the pipeline ran in).");
        sb.AppendLine();
        sb.AppendLine("## Merged model (this folder)");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.Append($"vllm serve {final}");
        if (hasTemplate) sb.Append($" \\\n  --chat-template {final}/{TemplateFileName}");
        sb.Append(common);
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine("## Base model + adapter (LoRA at runtime)");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.Append($"vllm serve {baseDir}");
        if (hasTemplate) sb.Append($" \\\n  --chat-template {final}/{TemplateFileName}");
        sb.Append(common);
        sb.Append($" \\\n  --enable-lora --lora-modules {o.AdapterName}={adapterDir} --max-lora-rank {VllmMaxLoraRank(adapter.Config.R)}");
        sb.AppendLine();
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine($"Request the adapter with `\"model\": \"{o.AdapterName}\"`.");
        if (adapter.Tokens is not null || adapter.Embedding is not null)
        {
            sb.AppendLine();
            sb.AppendLine("**Caveat:** this adapter changes the embedding (" +
                          (adapter.Tokens is not null
                              ? "`trainable_tokens_delta`, which vLLM's LoRA loader rejects (vllm#36501)"
                              : "`lora_embedding_A/B`; vLLM and PEFT apply them to the input side only, while ToolTune trained the tied " +
                                "head to follow the adapted embedding, so base + adapter there is not the trained model (peft#2864)") +
                          "); serve the merged folder above, which needs no LoRA support and equals the trained model.");
        }
        sb.AppendLine();
        sb.AppendLine("## Notes");
        sb.AppendLine();
        sb.AppendLine($"- Stop ids (`generation_config.json` `eos_token_id`): [{string.Join(", ", stopIds)}].");
        sb.AppendLine($"- LoRA: r = {adapter.Config.R}, alpha = {adapter.Config.Alpha}, targets = {string.Join(", ", adapter.Config.TargetModules)}" +
                      (adapter.Config.TrainableTokenIds.Count > 0 ? $", trainable tokens = [{string.Join(", ", adapter.Config.TrainableTokenIds)}]" : "") + ".");
        if (plan.Untie)
            sb.AppendLine("- Tied head: merged with `--untie-head` (PEFT runtime semantics: only the input embedding adapted), so this snapshot is " +
                          "untied (`tie_word_embeddings: false`, `lm_head.weight` = base embedding). ToolTune-trained adapters expect the tied head to follow.");
        else if (adapter.Model.TieWordEmbeddings && (adapter.Tokens is not null || adapter.Embedding is not null))
            sb.AppendLine("- Tied head: kept tied; the head follows the merged embedding, exactly as ToolTune trained it.");
        if (o.Thinking) sb.AppendLine("- Thinking was used in training: `--reasoning-parser deepseek_r1` splits `<think>…</think>` from the content.");
        else if (thinkingMode)
            sb.AppendLine("- The template has a thinking mode, which training did not use: serve without a reasoning parser and send " +
                          "`\"chat_template_kwargs\": {\"enable_thinking\": false}`; to serve with thinking on, add `--reasoning-parser deepseek_r1`.");
        sb.AppendLine("- transformers: `AutoModelForCausalLM.from_pretrained(dir)` + `AutoTokenizer.from_pretrained(dir)`; ToolTune: `tooltune generate --model dir`.");
        sb.AppendLine();
        sb.AppendLine("## Without a GPU: `tooltune serve`");
        sb.AppendLine();
        sb.AppendLine("The same OpenAI API (chat completions with `tool_calls`, streaming, completions with token ids) on ToolTune's CPU engine, for agent code and CI tests:");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.Append($"tooltune serve --model {final} --port 8000");
        if (thinkingMode && !o.Thinking) sb.Append(" --chat-template-kwargs '{\"enable_thinking\": false}'");
        sb.AppendLine();
        sb.AppendLine("```");
        return sb.ToString();
    }
}
