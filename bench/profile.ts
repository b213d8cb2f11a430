import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker } from "../host/worker.js";
import { workerStream } from "./concurrency-levels.js";
import { copyModel } from "./setup.js";
import { ms, percentile, table } from "./stats.js";

/**
 * Where a streamed chat request's time goes inside workerd: a V8 CPU profile (the inspector's
 * Chrome DevTools Protocol, sampled every 100 us) over single streamed requests to the bundled chat
 * model, summed by self time per function and by kind (ORT's wasm, the worker's JavaScript, V8's
 * own work, idle). Needs Node's WebSocket (`--experimental-websocket` on Node 20, as npm run bench passes).
 */
const MODEL = "shop-assistant";
const DTYPE = "int8";
const REQUESTS = 8;
const NEW_TOKENS = 32;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
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

function kind(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === "(idle)") return "idle (waiting for I/O)";
  if (functionName === "(garbage collector)") return "garbage collection";
  if (functionName === "(program)" || functionName === "(root)") return "V8 and workerd (native)";
  if (url.startsWith("wasm://")) return "onnxruntime (wasm)";
  // The bundle holds the worker, Hono and onnxruntime-web's JS glue alike; the function table names them.
  return "JavaScript (the bundle)";
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
  const worker = await startWorker({ budgetMb: 1024, inspectorPort: port });
  try {
    await copyModel(store, worker);
    for (let i = 0; i < 3; i++)
      await workerStream(worker, `${MODEL}:${DTYPE}`, "Where is my order A1234567?", eosIds, NEW_TOKENS);
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
      title?: string;
      webSocketDebuggerUrl?: string;
    }[];
    const target = targets.find((t) => t.webSocketDebuggerUrl && !t.title?.startsWith("core:"));
    if (!target?.webSocketDebuggerUrl) throw new Error(`no worker among ${JSON.stringify(targets)}`);
    const session = await devtools(target.webSocketDebuggerUrl);
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: 100 });
    await session.send("Profiler.start");
    const streams = [];
    for (let i = 0; i < REQUESTS; i++) {
      streams.push(
        await workerStream(
          worker,
          `${MODEL}:${DTYPE}`,
          "Where is my order A1234567? It has been a week.",
          eosIds,
          NEW_TOKENS,
        ),
      );
    }
    const { profile } = await session.send<{ profile: Profile }>("Profiler.stop");
    session.close();

    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const self = new Map<number, number>();
    profile.samples.forEach((id, index) => {
      self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000);
    });
    const total = (profile.endTime - profile.startTime) / 1000;
    const kinds = new Map<string, number>();
    const functions = new Map<string, number>();
    for (const [id, time] of self) {
      const node = byId.get(id);
      if (!node) continue;
      kinds.set(kind(node), (kinds.get(kind(node)) ?? 0) + time);
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url ? `${url.split("/").pop()}:${lineNumber + 1}` : "";
      const name = `${functionName || "(anonymous)"} ${where}`.trim();
      functions.set(name, (functions.get(name) ?? 0) + time);
    }
    const share = (time: number) => `${((100 * time) / total).toFixed(1)}%`;
    const sorted = (map: Map<string, number>, count: number) =>
      [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
    return [
      `### Worker profile: ${REQUESTS} streamed chat requests to ${MODEL} (${DTYPE}) in workerd, one at a time`,
      "",
      `A V8 CPU profile of the worker's isolate through workerd's inspector, sampled every 100 us, over ${ms(total)} ms. Client-side time to first token p50 ${ms(
        percentile(
          streams.map((s) => s.first),
          50,
        ),
      )} ms, request p50 ${ms(
        percentile(
          streams.map((s) => s.total),
          50,
        ),
      )} ms for ${streams[0]?.tokens ?? 0} tokens.`,
      "",
      table(
        ["kind", "self ms", "share"],
        sorted(kinds, 10).map(([name, time]) => [name, ms(time), share(time)]),
      ),
      "",
      table(
        ["function (bundle:line)", "self ms", "share"],
        sorted(functions, 15).map(([name, time]) => [`\`${name}\``, ms(time), share(time)]),
      ),
    ].join("\n");
  } finally {
    await worker.close();
  }
}
