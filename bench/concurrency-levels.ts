import type { TestWorker } from "../host/worker.js";
import { fixedLengthChat } from "./setup.js";
import { percentile } from "./stats.js";

/** What the concurrency benchmarks share: levels of concurrent requests, timed by the client. */
export const LEVELS = [1, 2, 4, 8, 16];
export const ROUNDS = 3;
export const PROMPTS = [
  "Hello! Where is my order A1234567? It has been a week.",
  "你好，我的订单 A7654321 现在到哪里了？已经一周了。",
  "Can I return the kettle I bought last month?",
  "What are your opening hours on Sunday?",
];

export interface Stream {
  /** ms from the request to its first token (or to its answer, for a request that is not streamed) */
  first: number;
  /** ms from the request to its last token */
  total: number;
  tokens: number;
  status: number;
  /** A closed-loop client's first request: every client sends it at the same instant (a burst). */
  ramp?: boolean;
}

export interface Level {
  wall: number;
  streams: Stream[];
}

/** The rounds of one runner at one level. */
export type Rounds = Level[];

export type Runner = (concurrency: number) => Promise<Level>;

export async function atLevel(concurrency: number, one: (index: number) => Promise<Stream>): Promise<Level> {
  const started = performance.now();
  const streams = await Promise.all(Array.from({ length: concurrency }, (_, index) => one(index)));
  return { wall: performance.now() - started, streams };
}

/** Requests each closed-loop client sends in the steady-state mode. */
export const STEADY_REQUESTS = 5;
/**
 * New tokens of a steady-state request, by request: varied around the burst levels' 32, so that
 * clients which start together fall out of step, as arrivals do in a real load (with equal
 * lengths every client would finish and send again in the same instant, a burst every time).
 */
export const STEADY_TOKENS = [16, 40, 24, 48, 32];

/**
 * Steady state: `clients` closed-loop clients, each sending its next request (`request` counts
 * them) as soon as its previous one has ended, `STEADY_REQUESTS` each. Their first requests start
 * together and are marked `ramp`, so time to first token can be read without that burst.
 */
export async function closedLoop(
  clients: number,
  one: (client: number, request: number) => Promise<Stream>,
): Promise<Level> {
  const started = performance.now();
  const perClient = await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const streams: Stream[] = [];
      for (let request = 0; request < STEADY_REQUESTS; request++) {
        const stream = await one(client, request);
        streams.push(request === 0 ? { ...stream, ramp: true } : stream);
      }
      return streams;
    }),
  );
  return { wall: performance.now() - started, streams: perClient.flat() };
}

/**
 * Every runner at every level, `rounds` times, after one warm-up call each at 2. Runners take turns
 * within every round of every level, so that load drifting on a shared machine lands on all of them
 * alike rather than on whichever ran last.
 */
export async function runLevels(
  label: string,
  runners: Record<string, Runner>,
  rounds = ROUNDS,
): Promise<Record<string, Rounds[]>> {
  const results: Record<string, Rounds[]> = Object.fromEntries(
    Object.keys(runners).map((name) => [name, LEVELS.map(() => [] as Rounds)]),
  );
  for (const run of Object.values(runners)) await run(2);
  for (const [index, level] of LEVELS.entries()) {
    process.stderr.write(`concurrency, ${label}: ${level} at once\n`);
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of Object.entries(runners)) results[name]?.[index]?.push(await run(level));
    }
  }
  return results;
}

/** Median over the rounds of all streams' tokens over the level's wall time. */
export function aggregate(rounds: Rounds): number {
  return percentile(
    rounds.map((level) => (1000 * level.streams.reduce((sum, s) => sum + s.tokens, 0)) / level.wall),
    50,
  );
}

/** Median over the rounds of requests answered 200 per second of the level's wall time. */
export function requestsPerSecond(rounds: Rounds): number {
  return percentile(
    rounds.map((level) => (1000 * level.streams.filter((s) => s.status === 200).length) / level.wall),
    50,
  );
}

/** Median over every stream of every round of decode tokens/s after its first token. */
export function perStream(rounds: Rounds): number {
  return percentile(
    rounds.flatMap((level) =>
      level.streams.map((s) => (1000 * (s.tokens - 1)) / Math.max(1e-6, s.total - s.first)),
    ),
    50,
  );
}

/** Time to first token over every stream of every round, closed-loop clients' first requests left out. */
export function ttft(rounds: Rounds, p: number): number {
  return percentile(
    rounds.flatMap((level) => level.streams.filter((s) => !s.ramp).map((s) => s.first)),
    p,
  );
}

/** Answers other than 200, over every round, as `status x count`. */
export function failures(rounds: Rounds): string {
  const counts = new Map<number, number>();
  for (const level of rounds)
    for (const stream of level.streams)
      if (stream.status !== 200) counts.set(stream.status, (counts.get(stream.status) ?? 0) + 1);
  return counts.size === 0 ? "0" : [...counts].map(([status, count]) => `${count} x ${status}`).join(", ");
}

/**
 * A streamed chat completion through the worker, timed by the client from request to chunks. The
 * end-of-sequence ids are banned, so every stream makes `maxTokens` tokens.
 */
export async function workerStream(
  worker: TestWorker,
  model: string,
  prompt: string,
  eosIds: Set<number>,
  maxTokens: number,
): Promise<Stream> {
  const started = performance.now();
  const response = await worker.post(
    "/v1/chat/completions",
    fixedLengthChat(model, [{ role: "user", content: prompt }], maxTokens, eosIds),
  );
  if (response.status !== 200) {
    await response.arrayBuffer();
    const at = performance.now() - started;
    return { first: at, total: at, tokens: 0, status: response.status };
  }
  if (!response.body) throw new Error(`no stream: ${response.status}`);
  const decoder = new TextDecoder();
  let text = "";
  let first = 0;
  let last = 0;
  for await (const chunk of response.body) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    if (/"content":"[^"]/.test(text)) {
      last = performance.now() - started;
      if (!first) first = last;
    }
  }
  const tokens = Number(/"completion_tokens":(\d+)/.exec(text)?.[1] ?? Number.NaN);
  return { first, total: last, tokens, status: response.status };
}

/** A decoder batch's counters from the worker's `/v1/stats`, and ORT's wasm memory. */
export interface BatchCounters {
  steps: number;
  /** Rows summed over the steps (mean batch size x steps). */
  rowSteps: number;
  /** Prefills of newcomers admitted together, and the prompts they held. */
  prefills: number;
  prefilledPrompts: number;
  wasmBytes: number;
}

interface StatsBody {
  ort: { wasm_memory_bytes: number };
  sessions: {
    batch?: { steps: number; mean_batch_size: number; prefills: number; prefilled_prompts: number };
  }[];
}

export async function batchCounters(worker: TestWorker): Promise<BatchCounters> {
  const stats = (await (await worker.fetch("/v1/stats")).json()) as StatsBody;
  const batch = stats.sessions.find((session) => session.batch)?.batch;
  return {
    steps: batch?.steps ?? 0,
    rowSteps: (batch?.steps ?? 0) * (batch?.mean_batch_size ?? 0),
    prefills: batch?.prefills ?? 0,
    prefilledPrompts: batch?.prefilled_prompts ?? 0,
    wasmBytes: stats.ort.wasm_memory_bytes,
  };
}
