import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { nodeRegistry } from "../../host/engine.js";
import type { ApiError } from "../../src/errors.js";
import { modelKey } from "../../src/runtime/manifest.js";
import { openEncoder } from "../../src/tasks/encoder.js";
import { chatPrompt, openGenerator } from "../../src/tasks/text-generation.js";
import { openTranslator } from "../../src/tasks/translation.js";
import { quickStore } from "../helpers/quick-store.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** A store holding one real model folder, with one of its ONNX files corrupted after the push. */
async function storeWithCorruptFile(folder: string, id: string, file: string) {
  const store = await quickStore(join(ROOT, folder), id);
  const key = modelKey(id, file);
  const bytes = store.objects.get(key);
  assert.ok(bytes, `${key} was pushed`);
  const corrupt = bytes.slice();
  const middle = corrupt.length >> 1;
  corrupt[middle] = (corrupt[middle] ?? 0) ^ 0xff;
  store.objects.set(key, corrupt);
  const registry = nodeRegistry(store);
  return { registry, manifest: await registry.manifest(id) };
}

function expectNothingHeld(registry: ReturnType<typeof nodeRegistry>) {
  const { entries } = registry.cache.stats();
  assert.ok(entries.length > 0, "something was loaded before the failure");
  for (const entry of entries) assert.equal(entry.in_use, 0, `${entry.key} is not held`);
}

const isChecksumError = (file: string) => (error: ApiError) =>
  error.status === 502 && error.code === "checksum_mismatch" && error.message.includes(file);

describe("a model open that fails part way leaves no lease held", () => {
  test("generator: the tokenizer is released when the session cannot load", async () => {
    const file = "onnx/model_quantized.onnx";
    const { registry, manifest } = await storeWithCorruptFile(
      "test/fixtures/shop-assistant-nopast",
      "chat",
      file,
    );
    await assert.rejects(openGenerator(registry, manifest), isChecksumError(file));
    expectNothingHeld(registry);
  });

  test("translator: the encoder session and the tokenizer are released when a decoder cannot load", async () => {
    const file = "onnx/decoder_model_merged_quantized.onnx";
    const { registry, manifest } = await storeWithCorruptFile("models/phrase-translator", "mt", file);
    await assert.rejects(openTranslator(registry, manifest), isChecksumError(file));
    expectNothingHeld(registry);
    assert.ok(
      registry.cache.stats().entries.some((entry) => entry.key.includes("encoder_model_quantized")),
      "the encoder had loaded",
    );
  });

  test("encoder: the tokenizer is released when the session cannot load", async () => {
    const file = "onnx/model_quantized.onnx";
    const { registry, manifest } = await storeWithCorruptFile("models/intent-bert", "bert", file);
    await assert.rejects(openEncoder(registry, manifest), isChecksumError(file));
    expectNothingHeld(registry);
  });
});

describe("prompts that cannot fit", () => {
  test("a megabyte of chat is refused from its length, with the context named", async () => {
    const registry = nodeRegistry(
      await quickStore(join(ROOT, "test/fixtures/shop-assistant-nopast"), "chat"),
    );
    const lease = await openGenerator(registry, await registry.manifest("chat"));
    try {
      const content = "where is my order ".repeat(60_000);
      assert.throws(
        () => chatPrompt(lease.value, [{ role: "user", content }]),
        (error: ApiError) => error.code === "context_length_exceeded" && error.param === "messages",
      );
    } finally {
      lease.release();
    }
  });
});
