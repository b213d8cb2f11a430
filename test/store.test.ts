import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { matMulModel } from "../host/tiny-onnx.js";
import { loadedKey, startWorker, storedManifest, type TestWorker } from "../host/worker.js";
import { MANIFEST_FILE, modelKey, storedFiles, storeKey } from "../src/runtime/manifest.js";

/** y = sum(x) * weight: with x = 1..8 every output is 36 * weight, so answers name their model. */
const request = { inputs: [{ name: "x", shape: [1, 8], datatype: "FP32", data: [1, 2, 3, 4, 5, 6, 7, 8] }] };

let folders: string;
before(async () => {
  folders = await mkdtemp(join(tmpdir(), "store-models-"));
});
after(() => rm(folders, { recursive: true, force: true }));

/** A model folder whose one ONNX file answers 36 * weight. */
async function weightsFolder(weight: number): Promise<string> {
  const folder = join(folders, `weight-${weight}`);
  await mkdir(join(folder, "onnx"), { recursive: true });
  await writeFile(join(folder, "config.json"), "{}\n");
  await writeFile(join(folder, "onnx", "model.onnx"), matMulModel({ inputs: 8, outputs: 2, weight }));
  return folder;
}

async function infer(
  worker: TestWorker,
  id: string,
): Promise<{ status: number; weight?: number; body: unknown }> {
  const response = await worker.post(`/v2/models/${id}/infer`, request);
  const body = (await response.json()) as { outputs?: { data: number[] }[] };
  const value = body.outputs?.[0]?.data[0];
  return { status: response.status, weight: value === undefined ? undefined : value / 36, body };
}

async function errorOf(worker: TestWorker, id: string) {
  const answer = await infer(worker, id);
  const error = (answer.body as { error?: { code: string; message: string } }).error;
  return { status: answer.status, code: error?.code, message: error?.message ?? "" };
}

async function readCount(worker: TestWorker, key: string): Promise<number> {
  const stats = (await (await worker.fetch("/v1/stats")).json()) as {
    store: { reads: Record<string, number> };
  };
  return stats.store.reads[key] ?? 0;
}

describe("re-pushing a model while it is being served", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker({ manifestTtlMs: 200 });
  });
  after(() => worker.close());

  test("no request fails while new weights are pushed again and again, and answers follow", {
    timeout: 180_000,
  }, async (t) => {
    const weights = [1, 2, 3, 2, 1, 3];
    const sources = new Map<number, string>();
    for (const weight of new Set(weights)) sources.set(weight, await weightsFolder(weight));
    await worker.push(sources.get(1) as string, "swap");
    assert.equal((await infer(worker, "swap")).weight, 1);

    const failures: unknown[] = [];
    let current = 1;
    let requests = 0;
    let pushing = true;
    // Three clients send requests back to back until the pushes are over (at most 3000 each).
    const client = async () => {
      for (let sent = 0; pushing && sent < 3000; sent++) {
        const answer = await infer(worker, "swap");
        requests += 1;
        if (answer.status !== 200) failures.push(answer.body);
        else if (answer.weight !== undefined) current = answer.weight;
      }
    };
    const clients = [client(), client(), client()];
    try {
      for (const weight of weights.slice(1)) {
        await worker.push(sources.get(weight) as string, "swap", { force: weight === 2 });
        const deadline = Date.now() + 10_000;
        while (current !== weight && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(current, weight, `answers switched to the weights pushed (${weight})`);
      }
    } finally {
      pushing = false;
      await Promise.all(clients);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
    assert.ok(requests > 100, `the clients kept the worker busy (${requests} requests)`);
    t.diagnostic(`${requests} requests during ${weights.length - 1} pushes, none failed`);

    // Files of older pushes are gone once neither of the last two manifests names them.
    const manifest = await storedManifest(worker.bucket, "swap");
    const named = new Set([
      modelKey("swap", MANIFEST_FILE),
      ...storedFiles(manifest).map((f) => storeKey(manifest, f)),
    ]);
    const stray = (await worker.bucket.list(modelKey("swap", ""))).filter((o) => !named.has(o.key));
    assert.ok(
      stray.length <= 2,
      `only the previous push's files remain besides the current ones: ${stray.length}`,
    );
  });

  test("a worker holding a manifest two pushes old loads the current model instead of failing", async () => {
    const slow = await startWorker({ manifestTtlMs: 60_000 });
    try {
      await slow.push(await weightsFolder(4), "old");
      // Caches the manifest without loading the model.
      assert.equal((await slow.fetch("/v2/models/old")).status, 200);
      await slow.push(await weightsFolder(5), "old");
      await slow.push(await weightsFolder(6), "old");
      const answer = await infer(slow, "old");
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.weight, 6);
      assert.equal(
        await readCount(slow, modelKey("old", MANIFEST_FILE)),
        2,
        "the manifest was read again once",
      );
    } finally {
      await slow.close();
    }
  });
});

describe("damaged stores", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker();
  });
  after(() => worker.close());

  test("a truncated file is a 502 naming it, is not cached, and --force repairs it", async () => {
    const folder = await weightsFolder(7);
    await worker.push(folder, "cut");
    const key = await loadedKey(worker.bucket, "cut");
    await truncateStoredObject(worker, key);
    for (let attempt = 0; attempt < 2; attempt++) {
      const error = await errorOf(worker, "cut");
      assert.equal(error.status, 502);
      assert.equal(error.code, "model_file_unreadable");
      assert.match(error.message, /'onnx\/model\.ort' of model 'cut'/);
    }
    assert.equal(await readCount(worker, key), 2, "a failed load is not cached");
    await worker.push(folder, "cut", { force: true });
    assert.equal((await infer(worker, "cut")).weight, 7);
  });

  test("a corrupt manifest is a 502 and --force repairs it; a missing one is pushed again", async () => {
    const folder = await weightsFolder(8);
    await worker.push(folder, "manifest");
    await worker.bucket.put(modelKey("manifest", MANIFEST_FILE), new TextEncoder().encode("{ not json"));
    const broken = await errorOf(worker, "manifest");
    assert.equal(broken.status, 502);
    assert.equal(broken.code, "bad_manifest");
    await worker.push(folder, "manifest", { force: true });
    assert.equal((await infer(worker, "manifest")).weight, 8);

    await worker.bucket.delete(modelKey("manifest", MANIFEST_FILE));
    await worker.push(folder, "manifest");
    assert.equal((await storedManifest(worker.bucket, "manifest")).id, "manifest");
    assert.equal((await infer(worker, "manifest")).weight, 8);
  });

  test("a model in the old layout (files at their paths, no ORT copies) is still served", async () => {
    await worker.push(await weightsFolder(9), "legacy");
    const manifest = await storedManifest(worker.bucket, "legacy");
    // Rewrite it as schema 1 stored it: each file at its path, the .onnx loaded itself.
    for (const file of manifest.files) {
      const bytes = await worker.bucket.get(storeKey(manifest, file));
      assert.ok(bytes);
      await worker.bucket.put(modelKey("legacy", file.path), bytes);
      if (file.onnx) delete file.onnx.ort;
    }
    const legacy = { ...manifest, schema_version: 1 };
    await worker.bucket.put(
      modelKey("legacy", MANIFEST_FILE),
      new TextEncoder().encode(JSON.stringify(legacy)),
    );
    for (const object of await worker.bucket.list(modelKey("legacy", "blobs/")))
      await worker.bucket.delete(object.key);

    const answer = await infer(worker, "legacy");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.weight, 9);
    assert.equal(await readCount(worker, modelKey("legacy", "onnx/model.onnx")), 1);
  });
});

/** Cuts the bytes Miniflare keeps for an object to half, behind R2's back (its size stays recorded). */
async function truncateStoredObject(worker: TestWorker, key: string): Promise<void> {
  const original = await worker.bucket.get(key);
  assert.ok(original);
  const blobs = join(worker.persist, "edge-inference-models", "blobs");
  for (const name of await readdir(blobs)) {
    const path = join(blobs, name);
    if ((await stat(path)).size !== original.byteLength) continue;
    if (!Buffer.from(await readFile(path)).equals(original)) continue;
    await writeFile(path, original.subarray(0, original.byteLength >> 1));
    return;
  }
  assert.fail(`no stored bytes found for ${key}`);
}
