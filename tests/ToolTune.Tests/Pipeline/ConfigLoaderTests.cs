using ToolTune.Diagnostics;
using ToolTune.Pipeline.Config;

namespace ToolTune.Tests.Pipeline;

[TestClass]
public sealed class ConfigLoaderTests
{
    private static LoadedConfig Parse(string yaml, params string[] overrides) =>
        ConfigLoader.Parse(yaml, "run.yaml", Path.GetTempPath(), overrides, checkPaths: false);

    private static ToolTuneException Fails(string yaml, params string[] overrides) =>
        Assert.ThrowsExactly<ToolTuneException>(() => Parse(yaml, overrides));

    private static void AssertError(ToolTuneException ex, string code, int line, int column, string? messagePart = null)
    {
        Assert.AreEqual(code, ex.Code, ex.ToString());
        Assert.AreEqual("run.yaml", ex.File, ex.ToString());
        Assert.AreEqual(line, ex.Line, ex.ToString());
        Assert.AreEqual(column, ex.Column, ex.ToString());
        if (messagePart is not null) StringAssert.Contains(ex.Message, messagePart);
    }

    [TestMethod]
    public void FullConfigBindsEverySection()
    {
        var c = Parse("""
            run: {name: smollm3-hermes, seed: 7, artifacts_dir: out}
            model:
              base_model: models/smollm3
              chat_template: configs/templates/smollm3-tool-fixed.jinja
              dtype: bf16
            data:
              sources:
                - {path: data/hermes.json, format: hermes, kind: tool}
                - {path: data/general.jsonl, format: instruct, kind: general, limit: 500}
              tool_ratio: 0.7
              val_fraction: 0.1
              max_seq_len: 4096
              strict: true
            tokens:
              tool_call: ["<tool_call>", "</tool_call>"]
              expect_ids: {tool_call: [128015, 128016]}
              end_of_turn: "<|im_end|>"
            lora: {r: 64, alpha: 128, dropout: 0.05, target_modules: [q_proj, v_proj, embed_tokens], trainable_tokens: ["<tool_call>"]}
            train: {epochs: 2, learning_rate: 1e-4, betas: [0.9, 0.95], schedule: linear, grad_accum: 4, gradient_checkpointing: false}
            eval:
              gates:
                - tool_call_f1 >= 0.9
                - {gate: "stop_rate > 0.5", warn: true}
            """).Config;
        Assert.AreEqual("smollm3-hermes", c.Run.Name);
        Assert.AreEqual(7, c.Run.Seed);
        Assert.AreEqual(2, c.Data.Sources.Count);
        Assert.AreEqual("general", c.Data.Sources[1].Kind);
        Assert.AreEqual(500, c.Data.Sources[1].Limit);
        Assert.IsTrue(c.Data.Strict);
        CollectionAssert.AreEqual(new[] { 128015, 128016 }, c.Tokens.ExpectIds.ToolCall!.ToArray());
        Assert.IsNull(c.Tokens.ExpectIds.ToolResponse);
        Assert.AreEqual(64, c.Lora.R);
        Assert.AreEqual(1e-4, c.Train.LearningRate);
        Assert.AreEqual("linear", c.Train.Schedule);
        Assert.IsFalse(c.Train.GradientCheckpointing);
        Assert.AreEqual(8, new TrainSection().GradAccum); // default untouched elsewhere
        Assert.AreEqual(2, c.Eval.Gates.Count);
        Assert.AreEqual("tool_call_f1 >= 0.9", c.Eval.Gates[0].ToString());
        Assert.IsTrue(c.Eval.Gates[1].Warn);
        // Each gate remembers where it is written: a miss is reported at that line.
        Assert.AreEqual(c.Eval.Gates[0].Line + 1, c.Eval.Gates[1].Line);
        Assert.AreEqual(7, c.Eval.Gates[0].Column);
        Assert.IsTrue(c.Eval.Gates[0].Line > 20);
    }

    [TestMethod]
    public void EmptySectionsGiveDefaults()
    {
        var c = Parse("run:\n  name: x\ntrain:\n").Config;
        Assert.AreEqual(0.7, c.Data.ToolRatio);
        Assert.AreEqual("cosine", c.Train.Schedule);
        CollectionAssert.AreEqual(new[] { "<tool_call>", "</tool_call>" }, c.Tokens.ToolCall.ToArray());
    }

    [TestMethod]
    public void UnknownKeySuggestsClosest()
    {
        var ex = Fails("train:\n  epochs: 1\n  learnig_rate: 1e-4\n");
        AssertError(ex, ErrorCodes.ConfigUnknownKey, 3, 3, "Did you mean 'learning_rate'?");
    }

    [TestMethod]
    public void UnknownSectionSuggestsClosest()
    {
        var ex = Fails("run:\n  name: a\ntrian:\n  epochs: 1\n");
        AssertError(ex, ErrorCodes.ConfigUnknownKey, 3, 1, "Did you mean 'train'?");
    }

    [TestMethod]
    public void WrongTypesPointAtTheValue()
    {
        AssertError(Fails("lora:\n  r: sixteen\n"), ErrorCodes.ConfigWrongType, 2, 6, "integer");
        AssertError(Fails("lora:\n  r: 1.5\n"), ErrorCodes.ConfigWrongType, 2, 6, "whole number");
        AssertError(Fails("train:\n  learning_rate: [1, 2]\n"), ErrorCodes.ConfigWrongType, 2, 18, "number");
        AssertError(Fails("data:\n  strict: yes\n"), ErrorCodes.ConfigWrongType, 2, 11, "true or false");
        AssertError(Fails("data: 5\n"), ErrorCodes.ConfigWrongType, 1, 7, "mapping");
        AssertError(Fails("data:\n  sources: data/x.json\n"), ErrorCodes.ConfigWrongType, 2, 12, "list");
    }

    [TestMethod]
    public void OutOfRangeValues()
    {
        AssertError(Fails("train:\n  learning_rate: 5\n"), ErrorCodes.ConfigOutOfRange, 2, 18, "out of range");
        AssertError(Fails("data:\n  tool_ratio: -0.1\n"), ErrorCodes.ConfigOutOfRange, 2, 15);
        AssertError(Fails("lora:\n  r: 0\n"), ErrorCodes.ConfigOutOfRange, 2, 6);
        AssertError(Fails("lora:\n  dropout: 1\n"), ErrorCodes.ConfigOutOfRange, 2, 12);
    }

    [TestMethod]
    public void InvalidChoicesAndShapes()
    {
        AssertError(Fails("train:\n  schedule: cosin\n"), ErrorCodes.ConfigInvalidValue, 2, 13, "Did you mean 'cosine'?");
        AssertError(Fails("lora:\n  target_modules: [q_proj, v_prj]\n"), ErrorCodes.ConfigInvalidValue, 2, 28, "Did you mean 'v_proj'?");
        AssertError(Fails("tokens:\n  tool_call: [\"<tool_call>\"]\n"), ErrorCodes.ConfigInvalidValue, 2, 14, "exactly 2");
        AssertError(Fails("run:\n  name: ../escape\n"), ErrorCodes.ConfigInvalidValue, 2, 9, "folder name");
        AssertError(Fails("eval:\n  gates: [\"tool_cal_f1 >= 0.9\"]\n"), ErrorCodes.ConfigInvalidValue, 2, 11, "Did you mean 'tool_call_f1'?");
        AssertError(Fails("eval:\n  gates: [\"tool_call_f1 ~ 0.9\"]\n"), ErrorCodes.ConfigInvalidValue, 2, 11, "metric >= number");
        AssertError(Fails("data:\n  sources:\n    - format: hermes\n"), ErrorCodes.ConfigMissingKey, 3, 7, "needs a 'path'");
    }

    [TestMethod]
    public void YamlSyntaxErrorHasALocation()
    {
        var ex = Fails("train:\n  epochs: 1\n lr: 2\n");
        Assert.AreEqual(ErrorCodes.ConfigSyntax, ex.Code);
        Assert.AreEqual(3, ex.Line, ex.ToString());
        Assert.AreEqual(ErrorCodes.ConfigSyntax, Fails("train: [1, 2\n").Code);
        Assert.AreEqual(ErrorCodes.ConfigSyntax, Fails("").Code);
        AssertError(Fails("train:\n  epochs: 1\n  epochs: 2\n"), ErrorCodes.ConfigSyntax, 3, 3, "Duplicate");
    }

    [TestMethod]
    public void MissingFilesAndFolders()
    {
        using var dir = new TempDir();
        dir.File("data/present.jsonl", "{}\n");
        dir.File("configs/run.yaml", "data:\n  sources:\n    - path: data/present.jsonl\n    - path: data/absent.jsonl\n");
        var ex = Assert.ThrowsExactly<ToolTuneException>(() => ConfigLoader.Load("configs/run.yaml", dir.Path));
        Assert.AreEqual(ErrorCodes.ConfigMissingPath, ex.Code);
        Assert.AreEqual((4, 13), (ex.Line, ex.Column), ex.ToString());
        StringAssert.Contains(ex.Message, "data/absent.jsonl");

        dir.File("configs/model.yaml", "model:\n  base_model: models/none\n");
        Assert.AreEqual(ErrorCodes.ConfigMissingPath, Assert.ThrowsExactly<ToolTuneException>(() => ConfigLoader.Load("configs/model.yaml", dir.Path)).Code);
        Assert.AreEqual(ErrorCodes.ConfigNotFound, Assert.ThrowsExactly<ToolTuneException>(() => ConfigLoader.Load("configs/nope.yaml", dir.Path)).Code);
    }

    [TestMethod]
    public void OverridesApplyAndValidateLikeTheFile()
    {
        const string yaml = "train:\n  learning_rate: 2e-4\nlora:\n  r: 8\n";
        var c = Parse(yaml, "train.learning_rate=1e-4", "lora.target_modules=[q_proj, k_proj]", "eval.temperature=0.5").Config;
        Assert.AreEqual(1e-4, c.Train.LearningRate);
        CollectionAssert.AreEqual(new[] { "q_proj", "k_proj" }, c.Lora.TargetModules.ToArray());
        Assert.AreEqual(0.5, c.Eval.Temperature);
        Assert.AreEqual(8, c.Lora.R);

        var range = Fails(yaml, "train.learning_rate=7");
        Assert.AreEqual(ErrorCodes.ConfigOutOfRange, range.Code);
        StringAssert.Contains(range.Message, "in override 'train.learning_rate=7'");
        var typo = Fails(yaml, "train.learnig_rate=1e-4");
        Assert.AreEqual(ErrorCodes.ConfigUnknownKey, typo.Code);
        StringAssert.Contains(typo.Message, "Did you mean 'learning_rate'?");
        Assert.AreEqual(ErrorCodes.ConfigOverrideInvalid, Fails(yaml, "no-equals-sign").Code);
        Assert.AreEqual(ErrorCodes.ConfigOverrideInvalid, Fails(yaml, "train.learning_rate.x=1").Code);
    }

    [TestMethod]
    public void OverrideListSplitsOnTopLevelSemicolons()
    {
        CollectionAssert.AreEqual(new[] { "a.b=1", "c.d=[x; y]", "e.f='p;q'" },
            ConfigLoader.SplitOverrides(" a.b=1; c.d=[x; y];e.f='p;q' ;").ToArray());
        Assert.AreEqual(0, ConfigLoader.SplitOverrides("").Count);
    }
}
