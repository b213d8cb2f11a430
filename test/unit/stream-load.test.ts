import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { convertToOrt } from "../../cli/lib/model-folder.js";
import { nodeRegistry } from "../../host/engine.js";
import { sampleWhileGrowing } from "../../host/memory-sampler.js";
import { MemoryStore } from "../../host/memory-store.js";
import { matMulModel } from "../../host/tiny-onnx.js";
import type { ApiError } from "../../src/errors.js";
import { MANIFEST_FILE, type Manifest, modelKey, ortFile, storeKey } from "../../src/runtime/manifest.js";
import type { OrtRuntime } from "../../src/runtime/ort.js";
import { startOrtInNode } from "../../src/runtime/ort-node.js";
import type { ModelRegistry } from "../../src/runtime/registry.js";
import type { ObjectStore, StoredObject } from "../../src/runtime/store.js";

const MB = 1 << 20;
const FILE = "onnx/model.onnx";
const ORT_FILE = "onnx/model.ort";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** An ORT-format MatMulNBits model: every output of a row of ones is `inputs * weight`. */
async function ortModel(work: string, inputs: number, outputs: number, weight: number): Promise<Uint8Array> {
  const onnx = join(work, `${inputs}x${outputs}-${weight}.onnx`);
  const ort = onnx.replace(/\.onnx$/, ".ort");
  await writeFile(onnx, matMulModel({ inputs, outputs, weight, int8: true }));
  await convertToOrt(onnx, ort);
  return new Uint8Array(await readFile(ort));
}

/**
 * Puts a model whose manifest describes `ort` into the store, holding `stored` as its ORT copy
 * (the same bytes, or damaged ones).
 */
function putModel(store: MemoryStore, id: string, ort: Uint8Array, stored: Uint8Array = ort): Manifest {
  const manifest: Manifest = {
    schema_version: 2,
    id,
    task: "feature-extraction",
    created_at: new Date(0).toISOString(),
    files: [
      {
        path: FILE,
        size: 1,
        sha256: "0".repeat(64),
        onnx: {
          inputs: [],
          outputs: [],
          memory_bytes: ort.byteLength,
          ort: { size: ort.byteLength, sha256: sha256(ort) },
        },
      },
    ],
  };
  const ortStored = ortFile(manifest.files[0] as Manifest["files"][number]);
  assert.ok(ortStored);
  store.objects.set(storeKey(manifest, ortStored), stored);
  store.objects.set(modelKey(id, MANIFEST_FILE), new TextEncoder().encode(JSON.stringify(manifest)));
  return manifest;
}

async function loadSession(registry: ModelRegistry, id: string) {
  const manifest = await registry.manifest(id);
  const file = manifest.files[0];
  assert.ok(file);
  return registry.session(manifest, file);
}

/** The value every output takes for a row of ones. */
async function answer(registry: ModelRegistry, id: string, inputs: number): Promise<Set<number>> {
  const lease = await loadSession(registry, id);
  try {
    const session = lease.value;
    const x = new session.ort.Tensor("float32", new Float32Array(inputs).fill(1), [1, inputs]);
    const y = (await session.run({ x })).y;
    assert.ok(y);
    return new Set(y.data as Float32Array);
  } finally {
    lease.release();
  }
}

/**
 * The largest growth of JS ArrayBuffer memory (where a file read from the store would sit) during
 * `work`.
 */
async function peakArrayBufferGrowth(work: () => Promise<unknown>): Promise<number> {
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
  };
  const stop = sampleWhileGrowing(sample);
  try {
    await work();
  } finally {
    stop();
  }
  return peak;
}

describe("an ORT-format file streams from the store into ORT's heap", () => {
  let work: string;
  let runtime: OrtRuntime;
  let big: Uint8Array;
  let small: Uint8Array;
  // 4096 inputs x 4096 outputs of int8 weights: a 16 MB file.
  const BIG_INPUTS = 4096;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "stream-load-"));
    runtime = await startOrtInNode();
    assert.ok(runtime.heap, "the pinned onnxruntime-web build has a heap to stream into");
    big = await ortModel(work, BIG_INPUTS, 4096, 0.5);
    small = await ortModel(work, 256, 256, 0.25);
  });
  after(() => rm(work, { recursive: true, force: true }));

  test("with no copy of the file in JS", async () => {
    assert.ok(big.byteLength > 16 * MB, `the file is ${big.byteLength} bytes`);
    const store = new MemoryStore();
    putModel(store, "big", big);
    const registry = nodeRegistry(store);
    await registry.runtime();
    let loaded: Awaited<ReturnType<typeof loadSession>> | undefined;
    const growth = await peakArrayBufferGrowth(async () => {
      loaded = await loadSession(registry, "big");
    });
    loaded?.release();
    // Read whole, the file sat in JS (once or twice) while it was hashed and copied into the heap.
    assert.ok(
      growth < big.byteLength / 4,
      `JS ArrayBuffers grew by ${(growth / MB).toFixed(1)} MB loading a ${(big.byteLength / MB).toFixed(1)} MB file`,
    );
    assert.deepEqual(await answer(registry, "big", BIG_INPUTS), new Set([BIG_INPUTS * 0.5]));
  });

  test("a damaged file is refused before ORT sees it, is not cached, and its heap block is freed", async () => {
    const store = new MemoryStore();
    putModel(store, "good", small);
    const flipped = big.slice();
    flipped[big.byteLength >> 1] = (flipped[big.byteLength >> 1] ?? 0) ^ 0xff;
    const longer = new Uint8Array(big.byteLength + MB);
    longer.set(big);
    const notOrt = new Uint8Array(big.byteLength).fill(7);
    const damaged: [string, Uint8Array, Uint8Array, (error: ApiError, id: string) => void][] = [
      ["flipped", big, flipped, checksumError(big.byteLength)],
      ["short", big, big.slice(0, big.byteLength - 1000), checksumError(big.byteLength - 1000)],
      // More bytes than the block holds: counted and hashed, never written past its end.
      ["long", big, longer, checksumError(longer.byteLength)],
      ["garbage", notOrt, notOrt, (error, id) => expectError(error, id, 502, "bad_model")],
    ];
    for (const [id, described, stored] of damaged) putModel(store, id, described, stored);
    const cut = cutBody(store, modelKey("cut", `blobs/${sha256(big)}`), big.byteLength >> 1);
    putModel(store, "cut", big);
    const registry = nodeRegistry(cut);

    assert.deepEqual(await answer(registry, "good", 256), new Set([64]));
    const held = await loadSession(registry, "good");
    const start = runtime.wasmMemoryBytes();
    const cases: [string, (error: ApiError, id: string) => void][] = [
      ...damaged.map(([id, , , check]): [string, (error: ApiError, id: string) => void] => [id, check]),
      ["cut", (error, id) => expectError(error, id, 502, "model_file_unreadable")],
    ];
    for (let attempt = 0; attempt < 2; attempt++) {
      for (const [id, check] of cases) {
        await assert.rejects(loadSession(registry, id), (error: ApiError) => {
          check(error, id);
          return true;
        });
      }
    }
    const grown = runtime.wasmMemoryBytes() - start;
    // Each of the ten failed loads took a block of the file's size; freed, each reused the last.
    assert.ok(
      grown <= big.byteLength + 2 * MB,
      `ORT's memory grew by ${(grown / MB).toFixed(1)} MB over ${cases.length * 2} failed loads of a ${(big.byteLength / MB).toFixed(1)} MB file`,
    );
    for (const [id] of cases) {
      const key = modelKey(id, `blobs/${sha256(id === "garbage" ? notOrt : big)}`);
      assert.equal(registry.store.reads.get(key), 2, `${id}: a failed load is not cached`);
    }
    assert.ok(
      registry.cache.stats().entries.every((entry) => entry.key.startsWith("good/")),
      "only the good model is cached",
    );
    // The held model's weights, read in place from its own block, are intact.
    const x = new held.value.ort.Tensor("float32", new Float32Array(256).fill(1), [1, 256]);
    const y = (await held.value.run({ x })).y;
    assert.deepEqual(new Set(y?.data as Float32Array), new Set([64]));
    held.release();

    // Once the file is repaired it loads and runs.
    putModel(store, "flipped", big);
    assert.deepEqual(await answer(registry, "flipped", BIG_INPUTS), new Set([BIG_INPUTS * 0.5]));
  });
});

function expectError(error: ApiError, id: string, status: number, code: string): void {
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, new RegExp(`'${ORT_FILE.replace(".", "\\.")}' of model '${id}'`));
}

const checksumError = (found: number) => (error: ApiError, id: string) => {
  expectError(error, id, 502, "checksum_mismatch");
  assert.match(error.message, new RegExp(`found [0-9a-f]{64}, ${found} bytes`));
};

/** The store, but the body of `key` fails after `bytes` bytes, as R2 fails a truncated object. */
function cutBody(inner: MemoryStore, key: string, bytes: number): ObjectStore {
  return {
    list: (options) => inner.list(options),
    async get(name) {
      const object = await inner.get(name);
      if (name !== key || !object) return object;
      const whole = inner.objects.get(key) ?? new Uint8Array(0);
      let sent = false;
      const cut: StoredObject = {
        size: object.size,
        text: () => object.text(),
        arrayBuffer: () => Promise.reject(new Error("did not see all expected bytes")),
        body: new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent) controller.error(new Error("did not see all expected bytes"));
            else controller.enqueue(whole.slice(0, bytes));
            sent = true;
          },
        }),
      };
      return cut;
    },
  };
}
