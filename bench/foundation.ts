import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { type Manifest, modelKey, onnxFiles, storeKey, variantName } from "../src/runtime/manifest.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { copyModel } from "./setup.js";
import { mb, ms, percentile, ratio, table, timeIt } from "./stats.js";
import { syntheticTensors, toFeeds } from "./synthetic-inputs.js";

/**
 * Tensor API latency and memory per bundled ONNX file: through the built worker in workerd
 * (cold = a fresh isolate and an empty cache; warm = the session reused), next to a bare
 * onnxruntime-web session in this Node process on the same bytes and inputs.
 */
const COLD_SAMPLES = 3;
const WARM_SAMPLES = 30;

interface Row {
  model: string;
  variant: string;
  sizeBytes: number;
  workerCold: number[];
  workerWarm: number[];
  workerMemory: number;
  isolateStart: number[];
  bareCold: number[];
  bareWarm: number[];
}

async function bundledModels(): Promise<string[]> {
  const entries = await readdir(MODELS_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && e.name !== "recipes").map((e) => e.name);
}

async function workerSamples(store: MemoryStore, id: string, variant: string, body: unknown) {
  const cold: number[] = [];
  let warm: number[] = [];
  let memory = 0;
  const start: number[] = [];
  for (let sample = 0; sample < COLD_SAMPLES; sample++) {
    const worker: TestWorker = await startWorker({ budgetMb: 1024 });
    try {
      await copyModel(store, worker);
      // The first stats request starts ORT in the fresh isolate: that is the isolate's own cold start.
      const [startMs, stats] = await timeIt(() => worker.fetch("/v1/stats"));
      start.push(startMs);
      const before = (await stats.json()) as { ort: { wasm_memory_bytes: number } };
      const path = `/v2/models/${id}/versions/${variant}/infer`;
      const [coldMs, response] = await timeIt(() => worker.post(path, body));
      if (response.status !== 200)
        throw new Error(`${id}/${variant}: ${response.status} ${await response.text()}`);
      cold.push(coldMs);
      if (sample === 0) {
        const after = (await (await worker.fetch("/v1/stats")).json()) as {
          ort: { wasm_memory_bytes: number };
        };
        memory = after.ort.wasm_memory_bytes - before.ort.wasm_memory_bytes;
        warm = [];
        for (let i = 0; i < WARM_SAMPLES; i++) {
          const [warmMs, r] = await timeIt(() => worker.post(path, body));
          await r.arrayBuffer();
          warm.push(warmMs);
        }
      }
    } finally {
      await worker.close();
    }
  }
  return { cold, warm, memory, start };
}

async function bareSamples(bytes: Uint8Array, manifest: Manifest, path: string) {
  const runtime = await startOrtInNode();
  const file = onnxFiles(manifest).find((f) => f.path === path);
  const inputs = file?.onnx?.inputs ?? [];
  const feeds = () => toFeeds(runtime.ort, inputs, syntheticTensors(inputs));
  const cold: number[] = [];
  const warm: number[] = [];
  for (let sample = 0; sample < COLD_SAMPLES; sample++) {
    const [coldMs, session] = await timeIt(async () => {
      const created = await runtime.ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
      await created.run(feeds());
      return created;
    });
    cold.push(coldMs);
    if (sample === 0) {
      for (let i = 0; i < WARM_SAMPLES; i++) warm.push((await timeIt(() => session.run(feeds())))[0]);
    }
    await session.release();
  }
  return { cold, warm };
}

export async function benchFoundation(only?: string[]): Promise<string> {
  const rows: Row[] = [];
  const ids = (await bundledModels()).filter((id) => !only || only.includes(id));
  for (const id of ids) {
    const folder = join(MODELS_DIR, id);
    const store = new MemoryStore();
    await store.push(folder, id);
    const manifestBytes = store.objects.get(modelKey(id, "manifest.json"));
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as Manifest;
    for (const file of onnxFiles(manifest)) {
      const variant = variantName(file.path);
      process.stderr.write(`foundation: ${id}/${variant}\n`);
      const body = { inputs: syntheticTensors(file.onnx?.inputs ?? []) };
      const worker = await workerSamples(store, id, variant, body);
      const bytes = store.objects.get(storeKey(manifest, file)) ?? new Uint8Array();
      const bare = await bareSamples(bytes, manifest, file.path);
      rows.push({
        model: id,
        variant,
        sizeBytes: file.size,
        workerCold: worker.cold,
        workerWarm: worker.warm,
        workerMemory: worker.memory,
        isolateStart: worker.start,
        bareCold: bare.cold,
        bareWarm: bare.warm,
      });
    }
  }
  const header = [
    "model / variant",
    "size MB",
    "isolate start p50 ms",
    "worker model cold p50 ms",
    "bare cold p50 ms",
    "cold ratio",
    "worker warm p50 / p95 ms",
    "bare warm p50 / p95 ms",
    "warm p50 ratio",
    "ORT wasm growth MB",
    "growth / size",
  ];
  const body = rows.map((row) => [
    `${row.model} / ${row.variant}`,
    mb(row.sizeBytes),
    ms(percentile(row.isolateStart, 50)),
    ms(percentile(row.workerCold, 50)),
    ms(percentile(row.bareCold, 50)),
    ratio(percentile(row.workerCold, 50), percentile(row.bareCold, 50)),
    `${ms(percentile(row.workerWarm, 50))} / ${ms(percentile(row.workerWarm, 95))}`,
    `${ms(percentile(row.bareWarm, 50))} / ${ms(percentile(row.bareWarm, 95))}`,
    ratio(percentile(row.workerWarm, 50), percentile(row.bareWarm, 50)),
    mb(row.workerMemory),
    ratio(row.workerMemory, row.sizeBytes),
  ]);
  return [
    "### Tensor API: worker (workerd, local R2) vs bare onnxruntime-web in Node",
    "",
    `Isolate start: a fresh isolate's first request, which starts ORT (wasm instantiation). Model cold: ${COLD_SAMPLES} fresh isolates with ORT started, first inference (R2 read, sha256, session creation, run); bare cold is session creation + first run. Warm: ${WARM_SAMPLES} requests on a loaded session. Worker times are measured by the client over loopback HTTP, so they include HTTP and JSON.`,
    "",
    table(header, body),
  ].join("\n");
}
