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
  closedLoop,
  failures,
  LEVELS,
  type Level,
  PROMPTS,
  perStream,
  type Rounds,
  runLevels,
  STEADY_REQUESTS,
  STEADY_TOKENS,
  ttft,
  workerStream,
} from "./concurrency-levels.js";
import { LADDER, type LadderSize, ladderModel } from "./scale-models.js";
import { mb, ms, percentile, ratio, table, timeInterleaved } from "./stats.js";

/**
 * The ~60 MB rung of the scale ladder (bench/scale-models.ts) served by the worker in workerd with the
 * default budgets, 1 to 16 concurrent streamed chats: batched, with BATCHING = "off", and batched with
 * a larger per-run allowance that the 128 MB accounting does not have (to show what the allowance
 * costs, not as a configuration to run). Two loads: bursts (all of a level's streams sent at once),
 * and steady state (closed-loop clients, each sending its next request as its previous one ends),
 * the first two setups only. `/v1/stats` is read before and after every timed level, for the rows the
 * batch ran per decode step, the prompts per prefill and ORT's wasm memory, which the report sets
 * against what the manifest's measured run cost predicts and charges for those rows.
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

/** Prompt tokens of the bare prefill runs: about the bench's prompts (16-37 tokens). */
const PREFILL_TOKENS = 32;
const PREFILL_ROWS = [1, 2, 4, 8];

interface BareRuns {
  /** p10 ms of one decode step, by rows. */
  decode: Map<number, number>;
  /** p10 ms of one prefill of `PREFILL_TOKENS` tokens per row, by rows. */
  prefill: Map<number, number>;
}

/**
 * The int8 file in onnxruntime-web under Node, bare (no engine, no worker), interleaved round by
 * round: one decode step at every level's rows over a cache of `STEP_PAST` positions, and one
 * prefill of `PREFILL_TOKENS` tokens per row (an empty cache) at `PREFILL_ROWS`; p10 ms per rows.
 */
async function bareRuns(folder: string, size: LadderSize): Promise<BareRuns> {
  const { ort } = await startOrtInNode();
  const bytes = new Uint8Array(await readFile(join(folder, "onnx", "model_quantized.onnx")));
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const int64 = (values: number[], dims: number[]) =>
    new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), dims);
  const feeds = (rows: number, tokens: number, cached: number) => {
    const cache = rows * size.kvHeads * cached * size.headDim;
    const past = Array.from({ length: size.layers }, (_, layer) =>
      ["key", "value"].map((kind) => [
        `past_key_values.${layer}.${kind}`,
        new ort.Tensor("float32", new Float32Array(cache).fill(0.01), [
          rows,
          size.kvHeads,
          cached,
          size.headDim,
        ]),
      ]),
    ).flat();
    return {
      input_ids: int64(
        Array.from({ length: rows * tokens }, (_, index) => 5 + (index % 200)),
        [rows, tokens],
      ),
      attention_mask: int64(Array(rows * (cached + tokens)).fill(1), [rows, cached + tokens]),
      position_ids: int64(
        Array.from({ length: rows * tokens }, (_, index) => cached + (index % tokens)),
        [rows, tokens],
      ),
      ...Object.fromEntries(past),
    };
  };
  const runners = Object.fromEntries([
    ...LEVELS.map((rows) => {
      const fed = feeds(rows, 1, STEP_PAST);
      return [`decode ${rows}`, () => session.run(fed)];
    }),
    ...PREFILL_ROWS.map((rows) => {
      const fed = feeds(rows, PREFILL_TOKENS, 0);
      return [`prefill ${rows}`, () => session.run(fed)];
    }),
  ]);
  try {
    const times = await timeInterleaved(STEP_ROUNDS, runners);
    const p10 = (kind: string, rows: number[]) =>
      new Map(rows.map((n) => [n, percentile(times[`${kind} ${n}`] ?? [], 10)]));
    return { decode: p10("decode", LEVELS), prefill: p10("prefill", PREFILL_ROWS) };
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

    // Per mode, setup and level: decode steps and rows, prefills and their prompts over the timed
    // rounds, and the largest wasm memory.
    const seen = new Map<string, BatchCounters>();
    const counted =
      (mode: string, setup: Setup, run: (worker: TestWorker, n: number) => Promise<Level>) =>
      async (n: number) => {
        const worker = workers.get(setup) as TestWorker;
        const before = await batchCounters(worker);
        const level = await run(worker, n);
        const after = await batchCounters(worker);
        const key = `${mode}/${setup.name}/${n}`;
        const sum = seen.get(key) ?? {
          steps: 0,
          rowSteps: 0,
          prefills: 0,
          prefilledPrompts: 0,
          wasmBytes: 0,
        };
        seen.set(key, {
          steps: sum.steps + after.steps - before.steps,
          rowSteps: sum.rowSteps + after.rowSteps - before.rowSteps,
          prefills: sum.prefills + after.prefills - before.prefills,
          prefilledPrompts: sum.prefilledPrompts + after.prefilledPrompts - before.prefilledPrompts,
          wasmBytes: Math.max(sum.wasmBytes, after.wasmBytes),
        });
        return level;
      };
    const burst = (worker: TestWorker, n: number) => atLevel(n, (index) => stream(worker, index));
    const results = await runLevels(
      LABEL,
      Object.fromEntries(SETUPS.map((setup) => [setup.name, counted("burst", setup, burst)])),
    );
    const steadyStream = (worker: TestWorker, client: number, request: number) =>
      workerStream(
        worker,
        ID,
        PROMPTS[(client + request) % PROMPTS.length] ?? "",
        eosIds,
        STEADY_TOKENS[(client + request) % STEADY_TOKENS.length] ?? NEW_TOKENS,
      );
    const steadySetups = SETUPS.slice(0, 2);
    const steady = await runLevels(
      `${LABEL}, steady state`,
      Object.fromEntries(
        steadySetups.map((setup) => [
          setup.name,
          counted("steady", setup, (worker, n) =>
            closedLoop(n, (client, request) => steadyStream(worker, client, request)),
          ),
        ]),
      ),
      1,
    );
    process.stderr.write(`concurrency, ${LABEL}: bare decode steps and prefills\n`);
    const bare = await bareRuns(model.folder, size);
    const steps = bare.decode;

    const longest = Math.max(...promptTokens) + NEW_TOKENS;
    // What the batcher reckons per row grown to `longest` (src/tasks/batcher.ts): the run the
    // measurement predicts, the margin on top, and the KV cache kept in JS between steps.
    const predicted = (rows: number) =>
      rows * (cost.per_token + cost.per_attended * longest + longest * cost.per_position);
    const charged = (rows: number) => MEASURED_MARGIN * predicted(rows);
    const kvPerRow = longest * size.layers * 2 * size.kvHeads * size.headDim * 4;
    // Rows one decode run may hold: within the allowance alone, or, as the batcher admits them, with
    // the run memory beyond it borrowed from the model budget the loaded model leaves free.
    const admits = (runMb: number, free?: number) => {
      const fits = (rows: number) =>
        free === undefined
          ? charged(rows) <= runMb * MIB
          : rows * kvPerRow + Math.max(0, charged(rows) - runMb * MIB) <= free;
      let rows = 1;
      while (rows < MAX_BATCH_ROWS && fits(rows + 1)) rows += 1;
      return rows;
    };
    const freeBudget = BUDGET_MB * MIB - modelCharge;
    const tableOf = (mode: string, levels: Record<string, Rounds[]>, setups: Setup[]) => {
      const base = levels[setups[0]?.name ?? ""]?.[0];
      return setups.flatMap((setup) =>
        LEVELS.map((level, index) => {
          const rounds = levels[setup.name]?.[index] as Rounds;
          const counts = seen.get(`${mode}/${setup.name}/${level}`);
          const per = (a: number, b: number) => (counts && b > 0 ? (a / b).toFixed(1) : "n/a");
          return [
            setup.name,
            String(level),
            `${aggregate(rounds).toFixed(0)} (${ratio(aggregate(rounds), base ? aggregate(base) : Number.NaN)})`,
            perStream(rounds).toFixed(1),
            ms(ttft(rounds, 50)),
            ms(ttft(rounds, 95)),
            failures(rounds),
            setup.batching === "on" ? per(counts?.rowSteps ?? 0, counts?.steps ?? 0) : "n/a",
            setup.batching === "on" ? per(counts?.prefilledPrompts ?? 0, counts?.prefills ?? 0) : "n/a",
            counts ? `${mb(counts.wasmBytes)} (+${mb(counts.wasmBytes - loaded.wasmBytes)})` : "n/a",
          ];
        }),
      );
    };
    const header = [
      "setup",
      "streams",
      "aggregate tokens/s",
      "per-stream tokens/s",
      "TTFT p50 ms",
      "TTFT p95 ms",
      "not 200",
      "rows per step",
      "prompts per prefill",
      "wasm MB",
    ];
    const defaults = results[SETUPS[0]?.name ?? ""];
    const eight = defaults?.[LEVELS.indexOf(8)];
    const single = defaults?.[0];
    const steadyDefaults = steady[SETUPS[0]?.name ?? ""];
    const steadyEight = steadyDefaults?.[LEVELS.indexOf(8)];
    const steadySingle = steadyDefaults?.[0];
    const oneStep = steps.get(1) ?? Number.NaN;
    const stepLine = `- Bare decode steps of the same file in onnxruntime-web under Node (p10 of ${STEP_ROUNDS} interleaved rounds, ${STEP_PAST} cached positions), rows: ms (decode tokens/s against one row): ${LEVELS.map((rows) => `${rows}: ${ms(steps.get(rows) ?? Number.NaN)} (${ratio(rows / (steps.get(rows) ?? Number.NaN), 1 / oneStep)})`).join(", ")}. The levels above also count each stream's prefill (newcomers admitted together are prefilled together, as one left-padded run when it fits).`;
    const wide = SETUPS[2] as Setup;
    const wideEight = seen.get(`burst/${wide.name}/8`);
    const lines = [
      eight && single
        ? `- Bursts, defaults: 8 streams decode ${aggregate(eight).toFixed(0)} tokens/s against ${aggregate(single).toFixed(0)} for one (${ratio(aggregate(eight), aggregate(single))}); time to first token p95 ${ms(ttft(eight, 95))} against ${ms(ttft(single, 95))} ms (${ratio(ttft(eight, 95), ttft(single, 95))}).`
        : "",
      steadyEight && steadySingle
        ? `- Steady state, defaults: 8 clients decode ${aggregate(steadyEight).toFixed(0)} tokens/s against ${aggregate(steadySingle).toFixed(0)} for one (${ratio(aggregate(steadyEight), aggregate(steadySingle))}); time to first token p95 ${ms(ttft(steadyEight, 95))} against ${ms(ttft(steadySingle, 95))} ms (${ratio(ttft(steadyEight, 95), ttft(steadySingle, 95))}).`
        : "",
      `- The accounting per row grown to ${longest} positions: a decode run the measurement predicts at ${mb(predicted(1))} MB, charged ${mb(charged(1))} MB, and ${mb(kvPerRow)} MB of KV cache charged to the model budget. ${RUN_MB} MB per run holds ${admits(RUN_MB)} rows by itself (${mb(charged(admits(RUN_MB)))} MB charged); borrowing from the ${mb(freeBudget)} MB of model budget the loaded ${mb(modelCharge)} MB leave free, the defaults admit ${admits(RUN_MB, freeBudget)} (8 rows: ${mb(charged(8))} MB of run, ${mb(Math.max(0, charged(8) - RUN_MB * MIB))} MB of it borrowed, and ${mb(8 * kvPerRow)} MB of cache); ${WIDE_RUN_MB} MB per run admits ${admits(WIDE_RUN_MB, freeBudget)}.`,
      wideEight
        ? `- Measured against that: with ${WIDE_RUN_MB} MB per run, ORT's wasm memory after the 8-stream level was ${mb(wideEight.wasmBytes)} MB, ${mb(wideEight.wasmBytes - loaded.wasmBytes)} MB above its size after the first request, where the measurement predicts ${mb(predicted(8))} MB for 8 rows and the engine charges ${mb(charged(8))} MB (wasm memory never shrinks, so this is the largest run so far, which is 8 rows at most until the 16-stream level).`
        : "",
      stepLine,
      `- Bare prefills of ${PREFILL_TOKENS} tokens per row (same file, same rounds), rows: ms (time against one row): ${PREFILL_ROWS.map((rows) => `${rows}: ${ms(bare.prefill.get(rows) ?? Number.NaN)} (${ratio(bare.prefill.get(rows) ?? Number.NaN, bare.prefill.get(1) ?? Number.NaN)})`).join(", ")}. Prompts arriving in the same instant cannot all have their first token sooner than their joint prefill: with ${PREFILL_ROWS.at(-1)} prompts, ${ratio(bare.prefill.get(PREFILL_ROWS.at(-1) ?? 1) ?? Number.NaN, bare.prefill.get(1) ?? Number.NaN)} one prompt's prefill, before any other cost of the request.`,
    ];
    return [
      `### Concurrency: the ${LABEL} ladder model (${(model.parameters / 1e6).toFixed(1)} M parameters, int8), greedy, ${NEW_TOKENS} tokens per stream, through the worker`,
      "",
      `Same method as above (rounds per level after a warm-up, setups taking turns within a round; aggregate ratios to one batched stream with the defaults). Each setup is its own workerd with the model pushed by \`models:push\`, which measured its runs: ${(cost.per_token / 1024).toFixed(1)} KB per token and ${(cost.per_position / 1024).toFixed(1)} KB per cached position and row (the engine charges ${MEASURED_MARGIN}x that), and a load of ${mb(file.onnx.memory_bytes)} MB. After the first request the cache holds ${mb(modelCharge)} MB of the ${BUDGET_MB} MB model budget and ORT's wasm memory is ${mb(loaded.wasmBytes)} MB; prompts are ${Math.min(...promptTokens)}-${Math.max(...promptTokens)} tokens, so a row can grow to ${longest} positions. Rows per step: the rows of the batch's decode steps during the level's rounds, on average, and prompts per prefill: the prompts each prefill (one left-padded run, or several pieces of one) held, on average, both from \`/v1/stats\` read before and after each round; wasm: ORT's memory after the level (it never shrinks) and its growth since the first request.`,
      "",
      "Bursts: all of a level's streams sent at once, 32 tokens each.",
      "",
      table(header, tableOf("burst", results, SETUPS)),
      "",
      `Steady state: as many closed-loop clients as the level, each sending its next request (the next prompt) as soon as its previous one has ended, ${STEADY_REQUESTS} requests each of ${STEADY_TOKENS.join(", ")} tokens in turn (so clients fall out of step), one round per level; time to first token leaves out each client's first request (they all start at once); aggregate counts every request's tokens over the level's wall time.`,
      "",
      table(
        header.map((name) => (name === "streams" ? "clients" : name)),
        tableOf("steady", steady, steadySetups),
      ),
      "",
      ...lines.filter(Boolean),
    ].join("\n");
  } finally {
    for (const worker of workers.values()) await worker.close();
  }
}
