import { readFile } from "node:fs/promises";
import { SourceMap } from "node:module";
import { createServer } from "node:net";
import { join } from "node:path";
import { MemoryStore } from "../host/memory-store.js";
import { DIST_DIR, MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { PROMPTS } from "./generation.js";
import { copyModel, fixedLengthChat } from "./setup.js";
import { ms, percentile, table } from "./stats.js";

/**
 * Where a streamed chat request's time goes inside workerd: a V8 CPU profile (the inspector's
 * Chrome DevTools Protocol, sampled every 100 us) over single streamed requests to the bundled chat
 * model. Samples are mapped back through the bundle's source map to the module they ran in, and
 * laid on the client's timeline: V8's profile clock and Node's hrtime are both the monotonic clock,
 * so each request's time to first token and each token's gap split into what the isolate did
 * (ORT's wasm, the worker's modules, idle) and, by difference, nothing it could see. Requests go
 * to the worker's own socket, not through Miniflare's entry worker. Needs Node's
 * WebSocket (`--experimental-websocket` on Node 20, as npm run bench passes).
 */
const MODEL = "shop-assistant";
const DTYPE = "int8";
/** Alternating the generation benchmark's prompts (English, Chinese). */
const REQUESTS = 8;
const NEW_TOKENS = 32;
const SAMPLE_US = 100;
/** The longest gap between two samples still taken as the time of the second one. */
const MAX_SAMPLE_US = 10 * SAMPLE_US;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A streamed request's moments on the monotonic clock, in microseconds. */
interface Marks {
  sent: number;
  chunks: number[];
  end: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

/** A Chrome DevTools Protocol session: one command at a time, answered by id. */
async function devtools(url: string) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let next = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  return {
    send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      const id = ++next;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve) => waiting.set(id, resolve as (result: unknown) => void));
    },
    close: () => socket.close(),
  };
}

const now = () => Number(process.hrtime.bigint() / 1000n);

/** One streamed chat request with EOS banned, marking when each chunk with content arrives. */
async function markedStream(worker: TestWorker, messages: unknown[], eosIds: Set<number>): Promise<Marks> {
  const sent = now();
  const response = await fetch(new URL("/v1/chat/completions", worker.directUrl ?? worker.url), {
    method: "POST",
    body: JSON.stringify(fixedLengthChat(`${MODEL}:${DTYPE}`, messages, NEW_TOKENS, eosIds)),
  });
  if (!response.body) throw new Error(`no stream: ${response.status}`);
  const decoder = new TextDecoder();
  const chunks: number[] = [];
  for await (const chunk of response.body) {
    if (/"content":"[^"]/.test(decoder.decode(chunk as Uint8Array, { stream: true }))) chunks.push(now());
  }
  return { sent, chunks, end: now() };
}

/** Labels bundle positions by the source they came from: our files by path, dependencies by package. */
async function sourceLabeller() {
  const map = new SourceMap(JSON.parse(await readFile(join(DIST_DIR, "index.js.map"), "utf8")));
  const labels = new Map<string, string>();
  return (frame: ProfileNode["callFrame"]): string => {
    const { functionName, url, lineNumber, columnNumber } = frame;
    if (functionName === "(idle)") return "idle";
    if (functionName === "(garbage collector)") return "garbage collection";
    if (functionName === "(program)" || functionName === "(root)") return "V8 and workerd (native)";
    if (url.startsWith("wasm://")) return "onnxruntime (wasm)";
    if (!url.endsWith("index.js")) return "workerd and Miniflare internals";
    const key = `${lineNumber}:${columnNumber}`;
    let label = labels.get(key);
    if (label === undefined) {
      const source =
        (map.findEntry(lineNumber, columnNumber) as { originalSource?: string }).originalSource ?? "";
      const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
      label = dependency ? (dependency[1] ?? source) : (/(?:src|host)\/.*$/.exec(source)?.[0] ?? "bundle");
      labels.set(key, label);
    }
    return label;
  };
}

/**
 * Splits the samples between `from` and `to` (monotonic microseconds) by what ran: the innermost
 * frame's module for self time. Time in the window that no sample covers is outside the profile.
 */
function splitWindow(samples: { at: number; delta: number; label: string }[], from: number, to: number) {
  const byLabel = new Map<string, number>();
  let covered = 0;
  for (const sample of samples) {
    if (sample.at < from || sample.at >= to) continue;
    byLabel.set(sample.label, (byLabel.get(sample.label) ?? 0) + sample.delta / 1000);
    covered += sample.delta / 1000;
  }
  return { byLabel, uncovered: Math.max(0, (to - from) / 1000 - covered) };
}

export async function benchProfile(only?: string[]): Promise<string> {
  if (only && !only.includes(MODEL)) return "";
  const store = new MemoryStore();
  await store.push(`${MODELS_DIR}/${MODEL}`, MODEL);
  // Banned in the requests, so every one makes the same number of tokens.
  const generation = JSON.parse(await readFile(`${MODELS_DIR}/${MODEL}/generation_config.json`, "utf8")) as {
    eos_token_id: number | number[];
  };
  const eosIds = new Set([generation.eos_token_id].flat());
  const port = await freePort();
  const worker = await startWorker({ budgetMb: 1024, inspectorPort: port, directSocket: true });
  const label = await sourceLabeller();
  try {
    await copyModel(store, worker);
    for (const messages of [...PROMPTS, ...PROMPTS]) await markedStream(worker, messages, eosIds);
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
      title?: string;
      webSocketDebuggerUrl?: string;
    }[];
    const target = targets.find((t) => t.webSocketDebuggerUrl && !t.title?.startsWith("core:"));
    if (!target?.webSocketDebuggerUrl) throw new Error(`no worker among ${JSON.stringify(targets)}`);
    const session = await devtools(target.webSocketDebuggerUrl);
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: SAMPLE_US });
    await session.send("Profiler.start");
    const streams: Marks[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      streams.push(await markedStream(worker, PROMPTS[i % PROMPTS.length] ?? [], eosIds));
    }
    const { profile } = await session.send<{ profile: Profile }>("Profiler.stop");
    session.close();

    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const samples: { at: number; delta: number; label: string; stack: Set<string> }[] = [];
    let at = profile.startTime;
    profile.samples.forEach((id, index) => {
      const delta = profile.timeDeltas[index] ?? 0;
      at += delta;
      const node = byId.get(id);
      if (!node) return;
      const stack = new Set<string>();
      for (let up: number | undefined = id; up !== undefined; up = parent.get(up)) {
        const frame = byId.get(up);
        if (frame) stack.add(label(frame.callFrame));
      }
      // A sample's delta is the time since the previous one. On a busy machine the sampling thread
      // is not always scheduled: a long delta says nothing of what ran, so it counts as unsampled.
      const weight = Math.min(delta, MAX_SAMPLE_US);
      samples.push({ at: at - weight, delta: weight, label: label(node.callFrame), stack });
    });
    const total = (profile.endTime - profile.startTime) / 1000;
    const sampled = samples.reduce((sum, sample) => sum + sample.delta / 1000, 0);

    const self = new Map<string, number>();
    const inclusive = new Map<string, number>();
    for (const sample of samples) {
      self.set(sample.label, (self.get(sample.label) ?? 0) + sample.delta / 1000);
      for (const name of sample.stack) inclusive.set(name, (inclusive.get(name) ?? 0) + sample.delta / 1000);
    }

    // Per request: the window to the first content chunk, and the windows between content chunks.
    const firstWindows = streams.map((s) => splitWindow(samples, s.sent, s.chunks[0] ?? s.end));
    const tokenWindows = streams.map((s) =>
      splitWindow(samples, s.chunks[0] ?? s.end, s.chunks.at(-1) ?? s.end),
    );
    const gaps = streams.map((s) => Math.max(1, s.chunks.length - 1));
    const labels = [...new Set(samples.map((s) => s.label))];
    const perRequest = (windows: ReturnType<typeof splitWindow>[], divisors: number[]) => {
      const median = (values: number[]) => percentile(values, 50);
      const rows = labels.map((name) => [
        name,
        median(windows.map((w, i) => (w.byLabel.get(name) ?? 0) / (divisors[i] ?? 1))),
      ]) as [string, number][];
      rows.push([
        "no sample: outside the isolate (client, sockets), or the machine too busy to sample",
        median(windows.map((w, i) => w.uncovered / (divisors[i] ?? 1))),
      ]);
      return rows.filter(([, time]) => time >= 0.005).sort((a, b) => b[1] - a[1]);
    };
    const ttft = streams.map((s) => ((s.chunks[0] ?? s.end) - s.sent) / 1000);
    const gap = streams.map(
      (s, i) => ((s.chunks.at(-1) ?? s.end) - (s.chunks[0] ?? s.end)) / 1000 / (gaps[i] ?? 1),
    );
    const share = (time: number) => `${((100 * time) / sampled).toFixed(1)}%`;
    const sorted = (map: Map<string, number>, count: number) =>
      [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
    return [
      `### Worker profile: ${REQUESTS} streamed chat requests to ${MODEL} (${DTYPE}) in workerd, one at a time`,
      "",
      `A V8 CPU profile of the worker's isolate through workerd's inspector, sampled every ${SAMPLE_US} us, over ${ms(total)} ms, of which ${ms(sampled)} ms had samples (a gap over ${MAX_SAMPLE_US / 1000} ms between two samples is left unsampled: the machine was too busy to run the sampler); samples are mapped to their source module through the bundle's source map. Client-side time to first token p50 ${ms(percentile(ttft, 50))} ms (per prompt: ${PROMPTS.map(
        (_, p) =>
          ms(
            percentile(
              ttft.filter((__, i) => i % PROMPTS.length === p),
              50,
            ),
          ),
      ).join(
        ", ",
      )}), time between content chunks p50 ${ms(percentile(gap, 50))} ms, ${streams[0]?.chunks.length ?? 0} content chunks per request.`,
      "",
      "Time to first token, per request (median), by what the isolate was running (self time):",
      "",
      table(
        ["module", "ms per request"],
        perRequest(
          firstWindows,
          firstWindows.map(() => 1),
        ).map(([name, time]) => [name, ms(time)]),
      ),
      "",
      "Between two content chunks, per token (median):",
      "",
      table(
        ["module", "ms per token"],
        perRequest(tokenWindows, gaps).map(([name, time]) => [name, ms(time)]),
      ),
      "",
      "Whole profile, by module: self time (share of the sampled time), and inclusive time (samples with the module anywhere on the stack):",
      "",
      table(
        ["module", "self ms", "share", "inclusive ms"],
        sorted(self, 20).map(([name, time]) => [name, ms(time), share(time), ms(inclusive.get(name) ?? 0)]),
      ),
    ].join("\n");
  } finally {
    await worker.close();
  }
}
