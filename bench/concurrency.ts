import { writeFile } from "node:fs/promises";
import { loadTransformers, wasmOptions } from "../cli/lib/transformers.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { ModelRegistry } from "../src/runtime/registry.js";
import type { Stepper } from "../src/tasks/batcher.js";
import { type DecodeOptions, DecodeRun } from "../src/tasks/causal-lm.js";
import { GREEDY } from "../src/tasks/sampling.js";
import {
  chatPrompt,
  decodeBatcher,
  openGenerator,
  type TextGenerator,
} from "../src/tasks/text-generation.js";
import { benchLadderConcurrency } from "./concurrency-ladder.js";
import {
  aggregate,
  atLevel,
  closedLoop,
  LEVELS,
  PROMPTS,
  perStream,
  ROUNDS,
  type Rounds,
  type Runner,
  runLevels,
  STEADY_REQUESTS,
  STEADY_TOKENS,
  type Stream,
  ttft,
  workerStream,
} from "./concurrency-levels.js";
import { benchRequestConcurrency } from "./concurrency-requests.js";
import { copyModel } from "./setup.js";
import { ms, ratio, table } from "./stats.js";

/**
 * 1 to 16 concurrent chat streams on the bundled chat model (int8, greedy, EOS banned so every
 * stream makes the same number of tokens), in one run: the worker in workerd over HTTP with
 * batching and with BATCHING = "off", the engine in Node both ways, and transformers.js v4 on the
 * same WASM build answering the same requests one after another (it has no scheduler of its own).
 * Per level: aggregate decode tokens/s (all streams' tokens over the wall time), per-stream decode
 * tokens/s after the first token, and time to first token. Writes bench/results/concurrency.svg.
 * The ~60 MB ladder model's levels are in concurrency-ladder.ts, translation's and embeddings' in
 * concurrency-requests.ts.
 */
const MODEL = "shop-assistant";
const DTYPE = "int8";
const NEW_TOKENS = 32;
const LADDER_ID = "ladder-60mb";

/** The engine's own loop: the batcher (or a lone DecodeRun), one step per token, as the routes drive it. */
async function engineStream(generator: TextGenerator, prompt: number[], batched: boolean): Promise<Stream> {
  const options: DecodeOptions = {
    promptIds: prompt,
    maxNewTokens: NEW_TOKENS,
    n: 1,
    sampling: GREEDY,
    seed: 0,
    eosIds: new Set(),
  };
  const started = performance.now();
  const run: Stepper = batched
    ? decodeBatcher(generator).join(options)
    : new DecodeRun(generator.lm, options);
  let first = 0;
  try {
    while (!run.done) {
      await run.step();
      if (!first) first = performance.now() - started;
    }
  } finally {
    run.close();
  }
  return { first, total: performance.now() - started, tokens: run.generated[0]?.length ?? 0, status: 200 };
}

async function engine(store: MemoryStore, batching: boolean) {
  const registry = new ModelRegistry({
    store,
    startOrt: startOrtInNode,
    budgetBytes: 1024 * 2 ** 20,
    batching,
  });
  return (await openGenerator(registry, await registry.manifest(MODEL), DTYPE)).value;
}

/**
 * The chat model's section, then the ~60 MB ladder model's and the translation and embedding
 * requests'; `--models` picks among shop-assistant, ladder-60mb, phrase-translator and intent-bert.
 */
export async function benchConcurrency(only?: string[]): Promise<string> {
  const wanted = (...ids: string[]) => !only || ids.some((id) => only.includes(id));
  const parts: string[] = [];
  if (wanted(MODEL)) parts.push(await benchChatConcurrency());
  if (wanted(LADDER_ID)) parts.push(await benchLadderConcurrency());
  if (wanted("phrase-translator", "intent-bert")) parts.push(await benchRequestConcurrency());
  return parts.join("\n\n");
}

async function benchChatConcurrency(): Promise<string> {
  const store = new MemoryStore();
  await store.push(`${MODELS_DIR}/${MODEL}`, MODEL);
  const batchedWorker = await startWorker({ budgetMb: 1024 });
  const unbatchedWorker = await startWorker({ budgetMb: 1024, batching: "off" });
  await copyModel(store, batchedWorker);
  await copyModel(store, unbatchedWorker);
  const generator = await engine(store, true);
  const prompts = PROMPTS.map((content) => chatPrompt(generator, [{ role: "user", content }]));
  const prompt = (index: number) => PROMPTS[index % PROMPTS.length] ?? "";
  const promptIds = (index: number) => prompts[index % prompts.length] ?? [];

  const transformers = await loadTransformers(MODELS_DIR);
  const reference = await transformers.AutoModelForCausalLM.from_pretrained(
    MODEL,
    wasmOptions("q8") as never,
  );
  const referenceStream = async (index: number, queuedAt: number): Promise<Stream> => {
    const ids = promptIds(index);
    const input = {
      input_ids: new transformers.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new transformers.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [
        1,
        ids.length,
      ]),
    };
    let first = 0;
    let tokens = 0;
    const streamer = new transformers.BaseStreamer();
    streamer.put = () => {
      // The first call carries the prompt; each later one a new token.
      if (tokens === 1) first = performance.now() - queuedAt;
      tokens += 1;
    };
    streamer.end = () => undefined;
    await reference.generate({
      ...input,
      max_new_tokens: NEW_TOKENS,
      min_new_tokens: NEW_TOKENS,
      do_sample: false,
      streamer,
    } as never);
    return { first, total: performance.now() - queuedAt, tokens: tokens - 1, status: 200 };
  };

  const streamVia = (worker: TestWorker, index: number) =>
    workerStream(worker, `${MODEL}:${DTYPE}`, prompt(index), generator.eosIds, NEW_TOKENS);
  const runners: Record<string, Runner> = {
    "worker, batched": (n) => atLevel(n, (i) => streamVia(batchedWorker, i)),
    'worker, BATCHING="off"': (n) => atLevel(n, (i) => streamVia(unbatchedWorker, i)),
    "engine in Node, batched": (n) => atLevel(n, (i) => engineStream(generator, promptIds(i), true)),
    "engine in Node, turns": (n) => atLevel(n, (i) => engineStream(generator, promptIds(i), false)),
    "transformers.js, one at a time": async (n) => {
      const started = performance.now();
      const streams: Stream[] = [];
      for (let i = 0; i < n; i++) streams.push(await referenceStream(i, started));
      return { wall: performance.now() - started, streams };
    },
  };

  const steadyVia = (worker: TestWorker, client: number, request: number) =>
    workerStream(
      worker,
      `${MODEL}:${DTYPE}`,
      prompt(client + request),
      generator.eosIds,
      STEADY_TOKENS[(client + request) % STEADY_TOKENS.length] ?? NEW_TOKENS,
    );
  const steadyRunners: Record<string, Runner> = {
    "worker, batched": (n) => closedLoop(n, (client, request) => steadyVia(batchedWorker, client, request)),
    'worker, BATCHING="off"': (n) =>
      closedLoop(n, (client, request) => steadyVia(unbatchedWorker, client, request)),
  };

  let results: Record<string, Rounds[]>;
  let steady: Record<string, Rounds[]>;
  try {
    results = await runLevels("chat", runners);
    steady = await runLevels("chat, steady state", steadyRunners, 1);
  } finally {
    await reference.dispose();
    await batchedWorker.close();
    await unbatchedWorker.close();
  }

  const rowsOf = (levelsByRunner: Record<string, Rounds[]>) => {
    const base = levelsByRunner["worker, batched"]?.[0];
    return Object.entries(levelsByRunner).flatMap(([name, levels]) =>
      levels.map((rounds, index) => [
        name,
        String(LEVELS[index]),
        `${aggregate(rounds).toFixed(0)} (${ratio(aggregate(rounds), base ? aggregate(base) : Number.NaN)})`,
        perStream(rounds).toFixed(1),
        ms(ttft(rounds, 50)),
        ms(ttft(rounds, 95)),
      ]),
    );
  };
  const header = [
    "runner",
    "streams",
    "aggregate tokens/s",
    "per-stream tokens/s",
    "TTFT p50 ms",
    "TTFT p95 ms",
  ];
  const svg = plot(results);
  await writeFile(new URL("./results/concurrency.svg", import.meta.url), svg);

  const overhead = (["worker, batched", "engine in Node, batched"] as const).map((name) => {
    const rounds = results[name]?.[0];
    return rounds ? { ttft: ttft(rounds, 50), decode: perStream(rounds) } : undefined;
  });
  const [viaWorker, inEngine] = overhead;
  const overheadLine =
    viaWorker && inEngine
      ? `One stream, worker against engine: time to first token ${ms(viaWorker.ttft)} vs ${ms(inEngine.ttft)} ms (+${ms(viaWorker.ttft - inEngine.ttft)} ms), streamed decode ${viaWorker.decode.toFixed(1)} vs ${inEngine.decode.toFixed(1)} tokens/s (${ratio(viaWorker.decode, inEngine.decode)}).`
      : "";
  return [
    `### Concurrency: ${MODEL} (${DTYPE}), greedy, ${NEW_TOKENS} tokens per stream, 1-16 concurrent chat streams`,
    "",
    `${ROUNDS} rounds per level after a warm-up, the runners taking turns within each round, all in one process and run. Aggregate = all streams' tokens over the wall time of the level, median of the rounds (ratio to one batched stream through the worker); per stream = median decode tokens/s after the first token; time to first token from the request, over every stream of every round. The worker is timed by the client over loopback HTTP (streamed chunks); transformers.js answers the same requests one after another, so its later requests wait for the earlier ones.`,
    "",
    table(header, rowsOf(results)),
    "",
    overheadLine,
    "",
    `Steady state through the worker: as many closed-loop clients as the level, each sending its next request (the next prompt) as soon as its previous one has ended, ${STEADY_REQUESTS} requests each of ${STEADY_TOKENS.join(", ")} tokens in turn, one round per level; time to first token leaves out each client's first request (they all start at once).`,
    "",
    table(
      header.map((name) => (name === "streams" ? "clients" : name)),
      rowsOf(steady),
    ),
    "",
    "![aggregate decode tokens/s by concurrent streams](concurrency.svg)",
  ].join("\n");
}

/** Aggregate tokens/s against concurrent streams, one line per runner, as a standalone SVG. */
function plot(results: Record<string, Rounds[]>): string {
  const width = 640;
  const height = 360;
  const margin = { left: 60, right: 200, top: 20, bottom: 40 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const series = Object.entries(results).map(([name, levels]) => ({ name, values: levels.map(aggregate) }));
  const top = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (index: number) => margin.left + (index / (LEVELS.length - 1)) * plotWidth;
  const y = (value: number) => margin.top + plotHeight - (value / top) * plotHeight;
  const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>${MODEL} (${DTYPE}): aggregate decode tokens/s by concurrent chat streams</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<line x1="${margin.left}" y1="${margin.top + plotHeight}" x2="${margin.left + plotWidth}" y2="${margin.top + plotHeight}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotHeight}" stroke="black"/>`,
    ...LEVELS.map(
      (level, index) =>
        `<text x="${x(index)}" y="${margin.top + plotHeight + 16}" text-anchor="middle">${level}</text>`,
    ),
    `<text x="${margin.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">concurrent streams</text>`,
    ...[0, 0.25, 0.5, 0.75, 1].map(
      (share) =>
        `<text x="${margin.left - 6}" y="${y(share * top) + 4}" text-anchor="end">$(share * top).toFixed(0)</text>`,
    ),
    `<text transform="translate(14 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">aggregate tokens/s</text>`,
    ...series.flatMap((s, k) => {
      const colour = colours[k % colours.length];
      const points = s.values
        .map((value, index) => `${x(index).toFixed(1)},${y(value).toFixed(1)}`)
        .join(" ");
      const legendY = margin.top + 14 + k * 18;
      return [
        `<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2"/>`,
        `<line x1="${width - margin.right + 12}" y1="${legendY - 4}" x2="${width - margin.right + 32}" y2="${legendY - 4}" stroke="${colour}" stroke-width="2"/>`,
        `<text x="${width - margin.right + 36}" y="${legendY}">${s.name.replace(/"/g, "&quot;")}</text>`,
      ];
    }),
    "</svg>",
  ];
  return `${parts.join("\n")}\n`;
}
