import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ApiError } from "../../src/errors.js";
import type { Manifest } from "../../src/runtime/manifest.js";
import { readGenerationConfig, readModelConfig } from "../../src/tasks/model-config.js";
import { parseModelRef, pickOnnx } from "../../src/tasks/model-files.js";

function manifest(...paths: string[]): Manifest {
  return {
    schema_version: 1,
    id: "m",
    task: "text-generation",
    created_at: "2026-01-01T00:00:00Z",
    files: paths.map((path) => ({
      path,
      size: 1,
      sha256: "0".repeat(64),
      ...(path.endsWith(".onnx") ? { onnx: { inputs: [], outputs: [], memory_bytes: 1 } } : {}),
    })),
  };
}

describe("choosing the ONNX file", () => {
  const both = manifest("onnx/model.onnx", "onnx/model_quantized.onnx", "config.json");

  test("int8 by default when the folder has it, fp32 when asked, q8 as an alias", () => {
    assert.equal(pickOnnx(both, ["model"]).path, "onnx/model_quantized.onnx");
    assert.equal(pickOnnx(both, ["model"], "fp32").path, "onnx/model.onnx");
    assert.equal(pickOnnx(both, ["model"], "q8").path, "onnx/model_quantized.onnx");
    assert.equal(pickOnnx(manifest("onnx/model.onnx"), ["model"]).path, "onnx/model.onnx");
  });

  test("transformers.js dtype names pick their files", () => {
    const many = manifest(
      "onnx/model.onnx",
      "onnx/model_fp16.onnx",
      "onnx/model_q4.onnx",
      "onnx/model_int8.onnx",
    );
    assert.equal(pickOnnx(many, ["model"], "fp16").path, "onnx/model_fp16.onnx");
    assert.equal(pickOnnx(many, ["model"], "q4").path, "onnx/model_q4.onnx");
    assert.equal(pickOnnx(many, ["model"], "int8").path, "onnx/model_int8.onnx");
    assert.equal(pickOnnx(many, ["model"]).path, "onnx/model.onnx", "no default to 4-bit or half files");
  });

  test("roles are tried in order", () => {
    const merged = manifest("onnx/decoder_model_merged.onnx");
    assert.equal(pickOnnx(merged, ["model", "decoder_model_merged"]).path, "onnx/decoder_model_merged.onnx");
  });

  test("an unknown dtype and a missing file are 400s that say what there is", () => {
    assert.throws(
      () => pickOnnx(both, ["model"], "fp8"),
      (error: ApiError) =>
        error.status === 400 && /fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4/.test(error.message),
    );
    assert.throws(
      () => pickOnnx(manifest("onnx/model.onnx"), ["model"], "int8"),
      (error: ApiError) => error.code === "model_file_missing" && /it has: model/.test(error.message),
    );
  });

  test("model references split at the last colon", () => {
    assert.deepEqual(parseModelRef("shop-assistant:fp32"), { id: "shop-assistant", dtype: "fp32" });
    assert.deepEqual(parseModelRef("shop-assistant"), { id: "shop-assistant" });
    assert.deepEqual(parseModelRef(":fp32"), { id: ":fp32" });
  });
});

describe("config.json and generation_config.json", () => {
  test("each architecture's names for the same numbers", () => {
    const gpt2 = readModelConfig({ n_head: 4, n_embd: 64, n_positions: 128, eos_token_id: 2 });
    assert.deepEqual([gpt2.heads, gpt2.kvHeads, gpt2.headDim, gpt2.contextLength], [4, 4, 16, 128]);
    assert.deepEqual(gpt2.eosIds, [2]);
    const llama = readModelConfig({
      num_attention_heads: 8,
      num_key_value_heads: 2,
      hidden_size: 64,
      head_dim: 16,
      eos_token_id: [1, 2],
    });
    assert.deepEqual([llama.heads, llama.kvHeads, llama.headDim], [8, 2, 16]);
    assert.deepEqual(llama.eosIds, [1, 2]);
    const t5 = readModelConfig({ num_heads: 4, d_model: 32, d_kv: 16 });
    assert.deepEqual([t5.heads, t5.headDim], [4, 16]);
    const marian = readModelConfig({ decoder_attention_heads: 4, encoder_attention_heads: 8, d_model: 64 });
    assert.deepEqual([marian.heads, marian.headDim], [4, 16]);
  });

  test("labels come in id order; a field of the wrong type counts as absent", () => {
    const config = readModelConfig({ id2label: { "10": "z", "2": "b", "1": "a" }, pad_token_id: "0" });
    assert.deepEqual(config.labels, ["a", "b", "z"]);
    assert.equal(config.padId, undefined);
    const generation = readGenerationConfig({ num_beams: "4", early_stopping: true, max_length: 64 });
    assert.equal(generation.num_beams, undefined);
    assert.equal(generation.early_stopping, true);
    assert.equal(generation.max_length, 64);
  });
});
