import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startWorker, storedManifest, type TestWorker } from "../host/worker.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { MEASURED_MARGIN } from "../src/tasks/run-memory.js";
import { MAX_BATCH_ROWS } from "../src/tasks/text-generation.js";
import {
  aggregate,
  atLevel,
  type BatchCounters,
  batchCounters,
  failures,
  LEVELS,
  PROMPTS,
  perStream,
  type Rounds,
  runLevels,
  ttft,
  workerStream,
} from "./concurrency-levels.js";
import { LADDER, type LadderSize, ladderModel } from "./scale-models.js";
import { mb, ms, percentile, ratio, table, timeInterleaved } from "./stats.js";

/**
 * The ~60 MB rung of the scale ladder (bench/scale-models.ts) served by the worker in workerd with the
 * default budgets, 1 to 16 concurrent streamed chats: batched, with BATCHING = "off", and batched with
 * a larger per-run allowance that the 128 MB accounting does not have (to show what the allowance
 * costs, not as a configuration to run). `/v1/stats` is read before and after every timed level, for
 * the rows the batch ran per decode step and ORT's wasm memory, which the report sets against what
 * the manifest's measured run cost predicts and charges for those rows.
 */
const LABEL = "60 MB";
const ID = "ladder-60mb";
const NEW_TOKENS = 32;
/** The worker's defaults (src/env.ts): 80 MB of models, 16 MB for the largest run. */
const BUDGET_MB = 80;
const RUN_MB = 16;
const WIDE_RUN_MB = 32;
const MIB = 2 ** 20;

interface Setup {
  name: string;
  runMemoryMb: number;
  batching: "on" | "off";
}

const SETUPS: Setup[] = [
  {
    name: `batched, defaults (${BUDGET_MB} MB models, ${RUN_MB} MB per run)`,
    runMemoryMb: RUN_MB,
    batching: "on",
  },
  { name: 'BATCHING="off", defaults', runMemoryMb: RUN_MB, batching: "off" },
  {
    name: `batched, RUN_MEMORY_MB=${WIDE_RUN_MB} (outside the 128 MB accounting)`,
    runMemoryMb: WIDE_RUN_MB,
    batching: "on",
  },
];

/** Cached positions of the bare decode steps: about the middle of a stream's life here. */
const STEP_PAST = 48;
const STEP_ROUNDS = 10;

/**
 * One decode step of the int8 file in onnxruntime-web under Node, bare (no engine, no worker), at
 * every level's rows over a cache of `STEP_PAST` positions, interleaved round by round: p10 ms per rows.
 */
async function bareSteps(folder: string, size: LadderSize): Promise<Map<number, number>> {
  const { ort } = await startOrtInNode();
  const bytes = new Uint8Array(await readFile(join(folder, "onnx", "model_quantized.onnx")));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const int64 = (values: number[], dims: number[]) =>
    new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
  const feeds = (rows: number) => {
    const cache = rows * size.kvHeads * STEP_PAST * size.headDim;
    const past = Array.from({ length: size.layers }, (_, layer) =>
      ["key", "value"].map((kind) => [
        `past_key_values.${layer}.${kind}`,
        new ort.Tensor("float32", new Float32Array(cache).fill(0.01), [
          rows,
          size.kvHeads,
          STEP_PAST,
          size.headDim,
        ]),
      ]),
    ).flat();
    return {
      input_ids: int64(
        Array.from({ length: rows }, (_, row) => 5 + row),
        [rows, 1],
      ),
      attention_mask: int64(Array(rows * (STEP_PAST + 1)).fill(1), [rows, STEP_PAST + 1]),
      position_ids: int64(Array(rows).fill(STEP_PAST), [rows, 1]),
      ...Object.fromEntries(past),
    };
  };
  const runners = Object.fromEntries(
    LEVELS.map((rows) => {
      const fed = feeds(rows);
      return [String(rows), () => session.run(fed)];
    }),
  );
  try {
    const times = await timeInterleaved(STEP_ROUNDS, runners);
    return new Map(LEVELS.map((rows) => [rows, percentile(times[String(rows)] ?? [], 10)]));
  } finally {
    await session.release();
  }
}

export async function benchLadderConcurrency(): Promise<string> {
  const size = LADDER.find((rung) => rung.label === LABEL);
  if (!size) throw new Error(`no ${LABEL} rung in the ladder`);
  const model = await ladderModel(size);
  const generation = JSON.parse(
    await readFile(join(model.serveFolder, "generation_config.json"), "utf8"),
  ) as {
    eos_token_id: number | number[];
  };
  const eosIds = new Set([generation.eos_token_id].flat());
  const workers = new Map<Setup, TestWorker>();
  try {
    for (const setup of SETUPS) {
      process.stderr.write(`concurrency, ${LABEL}: pushing to a worker (${setup.name})\n`);
      const worker = await startWorker({
        budgetMb: BUDGET_MB,
        runMemoryMb: setup.runMemoryMb,
        batching: setup.batching,
      });
      workers.set(setup, worker);
      await worker.push(model.serveFolder, ID);
    }
    const first = workers.get(SETUPS[0] as Setup) as TestWorker;
    const stream = (worker: TestWorker, index: number) =>
      workerStream(worker, ID, PROMPTS[index % PROMPTS.length] ?? "", eosIds, NEW_TOKENS);

    // The model alone, after one short run: its load and ORT's own memory.
    await (await first.post("/v1/completions", { model: ID, prompt: "Hi", max_tokens: 1 })).arrayBuffer();
    const loaded = await batchCounters(first);
    const promptTokens = await Promise.all(
      PROMPTS.map(async (content) => {
        const response = await first.post("/v1/chat/completions", {
          model: ID,
          messages: [{ role: "user", content }],
          max_tokens: 1,
        });
        return ((await response.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens;
      }),
    );
    const stats = (await (await first.fetch("/v1/stats")).json()) as {
      ort: { wasm_memory_bytes: number };
      cache: { entries: { key: string; cost_bytes: number }[] };
    };
    const manifest = await storedManifest(first.bucket, ID);
    const file = manifest.files.find((f) => f.path === "onnx/model_quantized.onnx");
    const cost = file?.onnx?.run_cost;
    if (!file?.onnx || !cost) throw new Error(`${ID}: no measured run cost in the manifest`);
    const modelCharge = stats.cache.entries.reduce((sum, entry) => sum + entry.cost_bytes, 0);

    // Per setup and level: decode steps and rows over the timed rounds, and the largest wasm memory.
    const seen = new Map<string, BatchCounters>();
    const runners = Object.fromEntries(
      SETUPS.map((setup) => {
        const worker = workers.get(setup) as TestWorker;
        return [
          setup.name,
          async (n: number) => {
            const before = await batchCounters(worker);
            const level = await atLevel(n, (index) => stream(worker, index));
            const after = await batchCounters(worker);
            const key = `${setup.name}/${n}`;
            const sum = seen.get(key) ?? { steps: 0, rowSteps: 0, wasmBytes: 0 };
            seen.set(key, {
              steps: sum.steps + after.steps - before.steps,
              rowSteps: sum.rowSteps + after.rowSteps - before.rowSteps,
              wasmBytes: Math.max(sum.wasmBytes, after.wasmBytes),
            });
            return level;
          },
        ];
      }),
    );
    const results = await runLevels(LABEL, runners);
    process.stderr.write(`concurrency, ${LABEL}: bare decode steps\n`);
    const steps = await bareSteps(model.folder, size);

    const longest = Math.max(...promptTokens) + NEW_TOKENS;
    // What the batcher reckons per row grown to `longest` (src/tasks/batcher.ts): the run the
    // measurement predicts, the margin on top, and the KV cache kept in JS between steps.
    const predicted = (rows: number) =>
      rows * (cost.per_token + cost.per_attended * longest + longest * cost.per_position);
    const charged = (rows: number) => MEASURED_MARGIN * predicted(rows);
    const kvPerRow = longest * size.layers * 2 * size.kvHeads * size.headDim * 4;
    const admits = (runMb: number) => {
      let rows = 1;
      while (rows < MAX_BATCH_ROWS && charged(rows + 1) <= runMb * MIB) rows += 1;
      return rows;
    };
    const base = results[SETUPS[0]?.name ?? ""]?.[0];
    const rows = SETUPS.flatMap((setup) =>
      LEVELS.map((level, index) => {
        const rounds = results[setup.name]?.[index] as Rounds;
        const counted = seen.get(`${setup.name}/${level}`);
        const rowsPerStep = counted && counted.steps > 0 ? counted.rowSteps / counted.steps : Number.NaN;
        return [
          setup.name,
          String(level),
          `${aggregate(rounds).toFixed(0)} (${ratio(aggregate(rounds), base ? aggregate(base) : Number.NaN)})`,
          perStream(rounds).toFixed(1),
          ms(ttft(rounds, 50)),
          ms(ttft(rounds, 95)),
          failures(rounds),
          setup.batching === "on" ? rowsPerStep.toFixed(1) : "n/a",
          counted ? `${mb(counted.wasmBytes)} (+${mb(counted.wasmBytes - loaded.wasmBytes)})` : "n/a",
        ];
      }),
    );
    const defaults = results[SETUPS[0]?.name ?? ""];
    const eight = defaults?.[LEVELS.indexOf(8)];
    const single = defaults?.[0];
    const oneStep = steps.get(1) ?? Number.NaN;
    const stepLine = `- Bare decode steps of the same file in onnxruntime-web under Node (p10 of ${STEP_ROUNDS} interleaved rounds, ${STEP_PAST} cached positions), rows: ms (decode tokens/s against one row): ${LEVELS.map((rows) => `${rows}: ${ms(steps.get(rows) ?? Number.NaN)} (${ratio(rows / (steps.get(rows) ?? Number.NaN), 1 / oneStep)})`).join(", ")}. The levels above also count each stream's prefill, run alone before it joins the batch.`;
    const wide = SETUPS[2] as Setup;
    const wideEight = seen.get(`${wide.name}/8`);
    const lines = [
      eight && single
        ? `- With the defaults, 8 streams decode ${aggregate(eight).toFixed(0)} tokens/s against ${aggregate(single).toFixed(0)} for one (${ratio(aggregate(eight), aggregate(single))}); time to first token p95 ${ms(ttft(eight, 95))} against ${ms(ttft(single, 95))} ms (${ratio(ttft(eight, 95), ttft(single, 95))}).`
        : "",
      `- The accounting per row grown to ${longest} positions: a decode run the measurement predicts at ${mb(predicted(1))} MB, charged ${mb(charged(1))} MB against the per-run allowance, and ${mb(kvPerRow)} MB of KV cache charged to the model budget. ${RUN_MB} MB per run admits ${admits(RUN_MB)} rows (${mb(charged(admits(RUN_MB)))} MB charged), ${WIDE_RUN_MB} MB admits ${admits(WIDE_RUN_MB)}; 8 rows would be charged ${mb(charged(8))} MB of run and ${mb(8 * kvPerRow)} MB of cache beside the model's ${mb(modelCharge)} MB.`,
      wideEight
        ? `- Measured against that: with ${WIDE_RUN_MB} MB per run, ORT's wasm memory after the 8-stream level was ${mb(wideEight.wasmBytes)} MB, ${mb(wideEight.wasmBytes - loaded.wasmBytes)} MB above its size after the first request, where the measurement predicts ${mb(predicted(8))} MB for 8 rows and the engine charges ${mb(charged(8))} MB (wasm memory never shrinks, so this is the largest run so far, which is 8 rows at most until the 16-stream level).`
        : "",
      stepLine,
    ];
    return [
      `### Concurrency: the ${LABEL} ladder model (${(model.parameters / 1e6).toFixed(1)} M parameters, int8), greedy, ${NEW_TOKENS} tokens per stream, through the worker`,
      "",
      `Same method as above (rounds per level after a warm-up, setups taking turns within a round; aggregate ratios to one batched stream with the defaults). Each setup is its own workerd with the model pushed by \`models:push\`, which measured its runs: ${(cost.per_token / 1024).toFixed(1)} KB per token and ${(cost.per_position / 1024).toFixed(1)} KB per cached position and row (the engine charges ${MEASURED_MARGIN}x that), and a load of ${mb(file.onnx.memory_bytes)} MB. After the first request the cache holds ${mb(modelCharge)} MB of the ${BUDGET_MB} MB model budget and ORT's wasm memory is ${mb(loaded.wasmBytes)} MB; prompts are ${Math.min(...promptTokens)}-${Math.max(...promptTokens)} tokens, so a row can grow to ${longest} positions. Rows per step: the rows of the batch's decode steps during the level's rounds, on average, from \`/v1/stats\` read before and after each round; wasm: ORT's memory after the level (it never shrinks) and its growth since the first request.`,
      "",
      table(
        [
          "setup",
          "streams",
          "aggregate tokens/s",
          "per-stream tokens/s",
          "TTFT p50 ms",
          "TTFT p95 ms",
          "not 200",
          "rows per step",
          "wasm MB",
        ],
        rows,
      ),
      "",
      ...lines.filter(Boolean),
    ].join("\n");
  } finally {
    for (const worker of workers.values()) await worker.close();
  }
}
