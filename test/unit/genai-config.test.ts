import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { FolderError } from "../../cli/lib/folder-error.js";
import { folderConfig, folderSources } from "../../cli/lib/model-folder.js";
import { checkGenaiNames } from "../../cli/lib/servable.js";
import { genaiGenerationConfig, genaiModelConfig, readGenaiConfig } from "../../src/tasks/genai-config.js";
import { readGenerationConfig, readModelConfig } from "../../src/tasks/model-config.js";

const HF = join(import.meta.dirname, "..", "fixtures", "hf");
const FIXTURE = join(HF, "llama-genai-shared", "genai_config.json");
const fixture = async () => JSON.parse(await readFile(FIXTURE, "utf8")) as Record<string, unknown>;

describe("genai_config.json read as config.json and generation_config.json", () => {
  test("the decoder's sizes, context and special ids, as the engine reads config.json", async () => {
    const config = readModelConfig(genaiModelConfig(readGenaiConfig(await fixture())));
    assert.equal(config.heads, 4);
    assert.equal(config.kvHeads, 2);
    assert.equal(config.headDim, 16);
    assert.equal(config.hidden, 32);
    assert.equal(config.layers, 2);
    assert.equal(config.vocabSize, 400);
    assert.equal(config.contextLength, 128);
    assert.deepEqual(config.eosIds, [0]);
  });

  test("search options become generation settings; genai's own switches do not", async () => {
    const genai = readGenaiConfig(await fixture());
    const generation = genaiGenerationConfig(genai);
    assert.equal(generation.past_present_share_buffer, undefined);
    const read = readGenerationConfig(generation);
    assert.equal(read.do_sample, false);
    assert.equal(read.top_k, 1);
    assert.equal(read.max_length, 128);
    assert.equal(read.eos_token_id, 0);
  });

  test("a list of eos ids (Phi-3's) and a list of pad ids are read", () => {
    const config = readModelConfig(
      genaiModelConfig(
        readGenaiConfig({ model: { eos_token_id: [32007, 32001], pad_token_id: [32000, 1] } }),
      ),
    );
    assert.deepEqual(config.eosIds, [32007, 32001]);
    assert.equal(config.padId, 32000);
  });
});

describe("genai decoder names the engine feeds and reads", () => {
  const refused = (decoder: Record<string, unknown>, message: RegExp) =>
    assert.throws(
      () => checkGenaiNames(readGenaiConfig({ model: { decoder } })),
      (error) => error instanceof FolderError && message.test(error.message),
    );

  test("the fixture's names pass; other names and inputs genai fills itself are refused", async () => {
    checkGenaiNames(readGenaiConfig(await fixture()));
    refused({ inputs: { past_key_names: "past_key_%d" } }, /inputs\.past_key_names is "past_key_%d"/);
    refused({ outputs: { logits: "lm_logits" } }, /the engine reads "logits"/);
    refused({ inputs: { cache_indirection: "cache_indirection" } }, /input cache_indirection .* not one/);
  });
});

describe("a genai folder's files as the store keeps them", () => {
  test("the root decoder becomes onnx/model.onnx, with or without a config.json beside it", async () => {
    const folder = await mkdtemp(join(tmpdir(), "genai-folder-"));
    try {
      await cp(join(HF, "llama-genai-growing"), folder, { recursive: true });
      assert.equal((await folderSources(folder)).get("onnx/model.onnx"), "model.onnx");
      assert.equal((await folderConfig(folder)).config.num_key_value_heads, 2);
      await cp(join(HF, "llama-tied-model-with-past", "config.json"), join(folder, "config.json"));
      assert.equal((await folderSources(folder)).get("onnx/model.onnx"), "model.onnx");
      const { config, task } = await folderConfig(folder);
      assert.deepEqual(config.architectures, ["LlamaForCausalLM"]);
      assert.equal(task, "text-generation");
      await rm(join(folder, "model.onnx"));
      await assert.rejects(folderSources(folder), /names the decoder model\.onnx, which is not in/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test("an Optimum folder carrying a genai_config.json keeps its own onnx/ files", async () => {
    const folder = await mkdtemp(join(tmpdir(), "optimum-genai-"));
    try {
      await cp(join(HF, "llama-tied-model-with-past"), folder, { recursive: true });
      await cp(FIXTURE, join(folder, "genai_config.json"));
      const sources = await folderSources(folder);
      assert.equal(sources.get("onnx/model.onnx"), "onnx/model.onnx");
      assert.equal((await folderConfig(folder)).config.head_dim, 8);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
