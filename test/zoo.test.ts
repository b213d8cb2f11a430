import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { type Manifest, modelKey, storeKey, type TensorInfo } from "../src/runtime/manifest.js";

/**
 * Every bundled model folder: its manifest, files and checksums agree, it has the files its task
 * needs, and its ONNX inputs and outputs are the ones the Optimum layout promises. The LoRA
 * adapters under models/adapters/ are PEFT folders, pushed and checked against their base in
 * test/lora.test.ts.
 */
const folders = (await readdir(MODELS_DIR, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory() && entry.name !== "recipes" && entry.name !== "adapters")
  .map((entry) => entry.name)
  .sort();

const REQUIRED: Record<string, string[]> = {
  "text-generation": [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "README.md",
  ],
  translation: [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "README.md",
  ],
  "feature-extraction": ["config.json", "tokenizer.json", "tokenizer_config.json", "README.md"],
  "text-classification": ["config.json", "tokenizer.json", "tokenizer_config.json", "README.md"],
  tensor: ["config.json", "README.md"],
};

const names = (infos: TensorInfo[] | undefined) => (infos ?? []).map((info) => info.name).sort();
const find = (infos: TensorInfo[] | undefined, name: string) =>
  (infos ?? []).find((info) => info.name === name);

function expectCache(info: TensorInfo | undefined, heads: number, headDim: number) {
  assert.ok(info, "cache input present");
  assert.equal(info.type, "float32");
  assert.equal(info.shape[0], "batch_size");
  assert.equal(info.shape[1], heads);
  assert.equal(typeof info.shape[2], "string", "the cache length is symbolic");
  assert.equal(info.shape[3], headDim);
}

function checkDecoderOnly(manifest: Manifest, config: Record<string, number>) {
  const layers = config.num_hidden_layers ?? 0;
  const kvHeads = config.num_key_value_heads ?? 0;
  const headDim = config.head_dim ?? (config.hidden_size ?? 0) / (config.num_attention_heads ?? 1);
  assert.ok(
    kvHeads < (config.num_attention_heads ?? 0),
    "grouped-query attention: fewer KV heads than query heads",
  );
  for (const path of ["onnx/model.onnx", "onnx/model_quantized.onnx"]) {
    const onnx = manifest.files.find((f) => f.path === path)?.onnx;
    assert.ok(onnx, `${path} present`);
    const past = Array.from({ length: layers }, (_, i) => [
      `past_key_values.${i}.key`,
      `past_key_values.${i}.value`,
    ]).flat();
    assert.deepEqual(names(onnx.inputs), ["attention_mask", "input_ids", ...past, "position_ids"].sort());
    assert.deepEqual(
      names(onnx.outputs),
      ["logits", ...past.map((name) => name.replace("past_key_values", "present"))].sort(),
    );
    for (const name of past) expectCache(find(onnx.inputs, name), kvHeads, headDim);
    assert.deepEqual(find(onnx.inputs, "input_ids")?.shape, ["batch_size", "sequence_length"]);
  }
}

function checkSeq2Seq(manifest: Manifest, config: Record<string, number>) {
  const layers = config.decoder_layers ?? 0;
  const heads = config.decoder_attention_heads ?? 0;
  const headDim = (config.d_model ?? 0) / heads;
  for (const suffix of ["", "_quantized"]) {
    const encoder = manifest.files.find((f) => f.path === `onnx/encoder_model${suffix}.onnx`)?.onnx;
    assert.ok(encoder, `encoder_model${suffix}.onnx present`);
    assert.deepEqual(names(encoder.inputs), ["attention_mask", "input_ids"]);
    assert.deepEqual(names(encoder.outputs), ["last_hidden_state"]);
    const merged = manifest.files.find((f) => f.path === `onnx/decoder_model_merged${suffix}.onnx`)?.onnx;
    assert.ok(merged, `decoder_model_merged${suffix}.onnx present`);
    const past = Array.from({ length: layers }, (_, i) =>
      ["decoder.key", "decoder.value", "encoder.key", "encoder.value"].map(
        (part) => `past_key_values.${i}.${part}`,
      ),
    ).flat();
    assert.deepEqual(
      names(merged.inputs),
      ["encoder_attention_mask", "encoder_hidden_states", "input_ids", ...past, "use_cache_branch"].sort(),
    );
    assert.deepEqual(
      names(merged.outputs),
      ["logits", ...past.map((name) => name.replace("past_key_values", "present"))].sort(),
    );
    for (const name of past) expectCache(find(merged.inputs, name), heads, headDim);
    assert.equal(find(merged.inputs, "use_cache_branch")?.type, "bool");
  }
}

function checkEncoder(manifest: Manifest, task: string) {
  for (const path of ["onnx/model.onnx", "onnx/model_quantized.onnx"]) {
    const onnx = manifest.files.find((f) => f.path === path)?.onnx;
    assert.ok(onnx, `${path} present`);
    if (task === "text-classification") {
      assert.deepEqual(names(onnx.inputs), ["attention_mask", "input_ids", "token_type_ids"]);
      assert.deepEqual(names(onnx.outputs), ["last_hidden_state", "logits"]);
    } else {
      assert.deepEqual(names(onnx.inputs), ["attention_mask", "input_ids"]);
      assert.deepEqual(names(onnx.outputs), ["last_hidden_state", "sentence_embedding"]);
    }
  }
}

describe("bundled model folders", () => {
  for (const id of folders) {
    test(`${id}: manifest, checksums, required files, ONNX interface, sizes`, async () => {
      const folder = join(MODELS_DIR, id);
      const store = new MemoryStore();
      await store.push(folder, id);
      const manifest = JSON.parse(
        new TextDecoder().decode(store.objects.get(modelKey(id, "manifest.json"))),
      ) as Manifest;
      for (const file of manifest.files) {
        const bytes = await readFile(join(folder, file.path));
        assert.equal(file.size, bytes.byteLength, file.path);
        assert.equal(file.sha256, createHash("sha256").update(bytes).digest("hex"), file.path);
        assert.deepEqual(store.objects.get(storeKey(manifest, file)), new Uint8Array(bytes));
      }
      const paths = manifest.files.map((file) => file.path);
      for (const required of REQUIRED[manifest.task] ?? [])
        assert.ok(paths.includes(required), `${id} has ${required}`);

      const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as Record<
        string,
        number
      >;
      if (manifest.task === "text-generation") checkDecoderOnly(manifest, config);
      if (manifest.task === "translation") checkSeq2Seq(manifest, config);
      if (manifest.task === "feature-extraction" || manifest.task === "text-classification") {
        checkEncoder(manifest, manifest.task);
      }
      if (manifest.task !== "tensor") {
        // What one deployment loads in int8: the encoder and merged decoder together for encoder-decoders.
        const serving =
          manifest.task === "translation" || manifest.task === "image-to-text"
            ? ["onnx/encoder_model_quantized.onnx", "onnx/decoder_model_merged_quantized.onnx"]
            : ["onnx/model_quantized.onnx"];
        const total = manifest.files
          .filter((f) => serving.includes(f.path))
          .reduce((sum, f) => sum + f.size, 0);
        assert.ok(total >= 2e6 && total <= 15e6, `int8 ONNX ${total} bytes is within 2-15 MB`);
        for (const file of manifest.files.filter((f) => f.onnx)) {
          assert.ok(
            (file.onnx?.memory_bytes ?? 0) >= file.size * 0.5,
            `${file.path}: measured memory is plausible`,
          );
        }
      }
    });
  }
});
