import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { pushAdapter } from "../cli/lib/lora/adapter.js";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker } from "../host/worker.js";
import { findFile, loraPath } from "../src/runtime/manifest.js";
import type { ModelRegistry } from "../src/runtime/registry.js";
import { batcherFor } from "../src/tasks/batcher.js";
import { generateIds } from "../src/tasks/causal-lm.js";
import type { LoraAdapter } from "../src/tasks/lora.js";
import { GREEDY } from "../src/tasks/sampling.js";
import {
  chatPrompt,
  MAX_BATCH_QUEUE,
  openGenerator,
  type TextGenerator,
} from "../src/tasks/text-generation.js";
import { mb, percentile, ratio, table, timeIt } from "./stats.js";

/**
 * LoRA adapters on the chat model, in one run: decode tokens/s of the plain graph, of the
 * LoRA-ready graph with no adapter (rank 0) and with an adapter; eight concurrent generations
 * sharing decode steps with no adapter, one adapter, and base and adapter rows mixed; and, in the
 * worker, what one more adapter adds to the isolate (its weights in the cache, ORT's wasm memory).
 */
const BASE = "shop-assistant";
const NEW_TOKENS = 32;
const ROUNDS = 5;
const ROWS = 8;
const PROMPTS = [
  [{ role: "user", content: "Hello! Where is my order A1234567? It has been a week." }],
  [{ role: "user", content: "你好，我的订单 A7654321 现在到哪里了？已经一周了。" }],
];
const NO_EOS = new Set<number>();

/** The committed adapters of the chat model, else the engine tests' random one. */
async function adapterFolders(): Promise<{ id: string; folder: string }[]> {
  const root = join(MODELS_DIR, "adapters");
  const committed = await readdir(root, { withFileTypes: true }).then(
    (entries) => entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name),
    () => [],
  );
  if (committed.length > 0) return committed.sort().map((id) => ({ id, folder: join(root, id) }));
  return [{ id: "random-b", folder: join(MODELS_DIR, "..", "test", "fixtures", "lora", "random-b") }];
}

/** Decode tokens/s of one greedy generation: N tokens minus the first (the prefill), EOS banned. */
async function decodeRate(
  generator: TextGenerator,
  prompt: number[],
  adapter?: LoraAdapter,
): Promise<number> {
  const options = { promptIds: prompt, sampling: GREEDY, seed: 0, eosIds: NO_EOS, adapter };
  const [first] = await timeIt(() => generateIds(generator.lm, { ...options, maxNewTokens: 1 }));
  const [total] = await timeIt(() => generateIds(generator.lm, { ...options, maxNewTokens: NEW_TOKENS }));
  return ((NEW_TOKENS - 1) * 1000) / Math.max(1e-6, total - first);
}

/** Tokens/s of ROWS generations run together through the batcher, each with its own adapter (or none). */
async function batchRate(generator: TextGenerator, prompt: number[], adapters: (LoraAdapter | undefined)[]) {
  const batcher = batcherFor(generator.lm, {
    maxRows: ROWS,
    maxQueue: MAX_BATCH_QUEUE,
    cost: generator.runCost,
    allowance: 1024 * 1024 * 1024,
  });
  const [elapsed] = await timeIt(() =>
    Promise.all(
      adapters.map(async (adapter) => {
        const member = batcher.join({
          promptIds: prompt,
          maxNewTokens: NEW_TOKENS,
          n: 1,
          sampling: GREEDY,
          seed: 0,
          eosIds: NO_EOS,
          adapter,
        });
        while (!member.done) await member.step();
      }),
    ),
  );
  return (adapters.length * NEW_TOKENS * 1000) / elapsed;
}

async function open(registry: ModelRegistry, id: string, dtype: string) {
  return openGenerator(registry, await registry.manifest(id), dtype);
}

export async function benchLora(only?: string[]): Promise<string> {
  if (only && !only.includes(BASE)) return "";
  const adapters = await adapterFolders();
  const plainStore = new MemoryStore();
  await plainStore.push(join(MODELS_DIR, BASE), BASE);
  const loraStore = new MemoryStore();
  for (const [key, bytes] of plainStore.objects) await loraStore.target().put(key, bytes);
  for (const { id, folder } of adapters)
    await pushAdapter(loraStore.target(), { folder, id, base: BASE, quiet: true });
  const plain = nodeRegistry(plainStore);
  const lora = nodeRegistry(loraStore);
  const first = adapters[0]?.id ?? "";

  const speedRows: string[][] = [];
  const batchRows: string[][] = [];
  for (const dtype of ["int8", "fp32"] as const) {
    process.stderr.write(`lora: ${dtype}\n`);
    const plainLease = await open(plain, BASE, dtype);
    const baseLease = await open(lora, BASE, dtype);
    const adapterLease = await open(lora, first, dtype);
    try {
      const prompts = PROMPTS.map((messages) => chatPrompt(plainLease.value, messages));
      const adapter = adapterLease.value.adapter;
      const runners = {
        plain: (prompt: number[]) => decodeRate(plainLease.value, prompt),
        rank0: (prompt: number[]) => decodeRate(baseLease.value, prompt),
        adapter: (prompt: number[]) => decodeRate(adapterLease.value, prompt, adapter),
      };
      const rates = { plain: [] as number[], rank0: [] as number[], adapter: [] as number[] };
      // Interleaved rounds after an untimed one, so drift on a shared machine hits every runner alike.
      for (let round = 0; round <= ROUNDS; round++) {
        for (const prompt of prompts) {
          for (const [name, run] of Object.entries(runners) as [keyof typeof rates, typeof runners.plain][]) {
            const rate = await run(prompt);
            if (round > 0) rates[name].push(rate);
          }
        }
      }
      const floor = percentile(rates.plain, 50);
      for (const [label, name] of [
        ["plain graph (no LoRA inputs)", "plain"],
        ["LoRA-ready graph, no adapter (rank 0)", "rank0"],
        [`LoRA-ready graph, adapter ${first} (r=${adapter?.rank})`, "adapter"],
      ] as const) {
        const median = percentile(rates[name], 50);
        speedRows.push([`${dtype} ${label}`, median.toFixed(1), ratio(median, floor)]);
      }

      const prompt = prompts[0] ?? [];
      const mixes: [string, (LoraAdapter | undefined)[]][] = [
        ["no adapter", Array.from({ length: ROWS }, () => undefined)],
        [`all ${first}`, Array.from({ length: ROWS }, () => adapter)],
        [`half base, half ${first}`, Array.from({ length: ROWS }, (_, i) => (i % 2 ? adapter : undefined))],
      ];
      const batchRates = new Map<string, number[]>(mixes.map(([label]) => [label, []]));
      for (let round = 0; round <= ROUNDS; round++) {
        for (const [label, rows] of mixes) {
          const rate = await batchRate(baseLease.value, prompt, rows);
          if (round > 0) batchRates.get(label)?.push(rate);
        }
      }
      const batchFloor = percentile(batchRates.get("no adapter") ?? [], 50);
      for (const [label] of mixes) {
        const median = percentile(batchRates.get(label) ?? [], 50);
        batchRows.push([`${dtype} ${ROWS} rows, ${label}`, median.toFixed(1), ratio(median, batchFloor)]);
      }
    } finally {
      plainLease.release();
      baseLease.release();
      adapterLease.release();
    }
  }

  const memoryRows = await workerMemory(
    loraStore,
    adapters.map((adapter) => adapter.id),
  );
  const base = await lora.manifest(BASE);
  const fileRows = ["onnx/model_quantized.onnx", "onnx/model.onnx"].map((path) => {
    const plainFile = findFile(base, path);
    const loraFile = findFile(base, loraPath(path));
    return [
      path,
      mb(plainFile?.onnx?.memory_bytes ?? 0),
      mb(loraFile?.onnx?.memory_bytes ?? 0),
      `${loraFile?.onnx?.inputs.filter((input) => input.name.startsWith("lora.")).length ?? 0}`,
    ];
  });
  return [
    `### LoRA adapters: ${BASE}, greedy, ${NEW_TOKENS} new tokens`,
    "",
    `Decode tokens/s (median of ${ROUNDS} rounds x ${PROMPTS.length} prompts, EN and ZH, after a warm-up round, runners interleaved within each round; one generation at a time, engine in Node). Ratios are to the plain graph in the same run.`,
    "",
    table(["graph / adapter", "decode tokens/s", "vs plain"], speedRows),
    "",
    `${ROWS} generations at once through the batcher (continuous batching: rows with different adapters share each decode step, ranks padded to the widest), total tokens/s including prefill, median of ${ROUNDS} rounds; ratios to the same batch with no adapter.`,
    "",
    table(["batch", "tokens/s", "vs no adapter"], batchRows),
    "",
    "Session memory measured at push (ORT wasm growth while creating the session from the ORT-format copy), plain graph vs LoRA-ready graph:",
    "",
    table(["file", "plain MB", "LoRA-ready MB", "LoRA inputs"], fileRows),
    "",
    "In the worker (workerd, one isolate): the base answered first, then each adapter once (int8, 8 tokens). The adapter's weights are charged to the isolate cache; ORT's wasm memory is what the runs grew it to.",
    "",
    table(["after", "cache used MB", "added MB", "ORT wasm MB", "added MB"], memoryRows),
  ].join("\n");
}

async function workerMemory(store: MemoryStore, adapterIds: string[]): Promise<string[][]> {
  const worker = await startWorker({ budgetMb: 1024 });
  try {
    for (const [key, bytes] of store.objects) await worker.bucket.put(key, bytes);
    const rows: string[][] = [];
    let previous: { cache: number; wasm: number } | undefined;
    for (const model of [BASE, ...adapterIds]) {
      const response = await worker.post("/v1/chat/completions", {
        model,
        messages: PROMPTS[0],
        max_tokens: 8,
      });
      if (!response.ok) throw new Error(`${model}: ${response.status} ${await response.text()}`);
      const stats = (await (await worker.fetch("/v1/stats")).json()) as {
        ort: { wasm_memory_bytes: number };
        cache: { used_bytes: number };
      };
      const now = { cache: stats.cache.used_bytes, wasm: stats.ort.wasm_memory_bytes };
      rows.push([
        model === BASE ? `${BASE} (base)` : `+ ${model}`,
        mb(now.cache),
        previous ? mb(now.cache - previous.cache) : "",
        mb(now.wasm),
        previous ? mb(now.wasm - previous.wasm) : "",
      ]);
      previous = now;
    }
    return rows;
  } finally {
    await worker.close();
  }
}
