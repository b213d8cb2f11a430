import { execFile } from "node:child_process";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR, ROOT_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";

/** Copies a model already pushed to a memory store (manifest included) into a worker's bucket. */
export async function copyModel(store: MemoryStore, worker: TestWorker): Promise<void> {
  for (const [key, bytes] of store.objects) await worker.bucket.put(key, bytes);
}

/**
 * One bundled model pushed once (its ONNX files inspected once), served both by the engine in
 * this process and by a fresh worker whose bucket gets the same objects.
 */
export async function prepareModel(id: string, options: { directSocket?: boolean } = {}) {
  const store = new MemoryStore();
  await store.push(join(MODELS_DIR, id), id);
  const registry = nodeRegistry(store);
  const manifest = await registry.manifest(id);
  const worker = await startWorker({ budgetMb: 1024, ...options });
  await copyModel(store, worker);
  return { registry, manifest, worker, store };
}

/**
 * bench/workerd-loop.ts built like the worker (wrangler, its wasm precompiled) and served by workerd
 * on a socket of its own, with the models of `store` in its bucket.
 */
export async function startLoopWorker(store: MemoryStore): Promise<TestWorker> {
  const dist = join(ROOT_DIR, ".tmp", "bench-workerd-loop");
  await rm(dist, { recursive: true, force: true });
  const wrangler = join(ROOT_DIR, "node_modules", ".bin", "wrangler");
  await promisify(execFile)(wrangler, ["deploy", "--dry-run", "--outdir", dist, "bench/workerd-loop.ts"], {
    cwd: ROOT_DIR,
  });
  await rename(join(dist, "workerd-loop.js"), join(dist, "index.js"));
  const worker = await startWorker({ budgetMb: 1024, directSocket: true, dist });
  await copyModel(store, worker);
  return worker;
}

/**
 * A streamed chat request of exactly `maxTokens` tokens: the model's end-of-sequence ids are banned, so
 * every runner and every request decodes the same number of steps.
 */
export function fixedLengthChat(
  model: string,
  messages: unknown[],
  maxTokens: number,
  eosIds: Iterable<number>,
): Record<string, unknown> {
  return {
    model,
    messages,
    max_tokens: maxTokens,
    stream: true,
    stream_options: { include_usage: true },
    logit_bias: Object.fromEntries([...eosIds].map((id) => [String(id), -100])),
  };
}
