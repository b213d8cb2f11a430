import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import { pushModel } from "../cli/lib/push.js";
import { type ListableTarget, r2Target } from "../cli/lib/targets.js";
import { type Manifest, manifestSchema, modelKey, ortFile, storeKey } from "../src/runtime/manifest.js";
import { DIST_DIR, PUBLIC_DIR, WORKERD_WRAPPER } from "./paths.js";

/**
 * The built worker (dist/, from `npm run build`) in real workerd through Miniflare, with a real
 * local R2 persisted in a fresh temporary folder.
 */
export interface TestWorker {
  url: URL;
  /**
   * With `directSocket`: a socket straight to the worker, without Miniflare's entry worker in
   * front of it (which routes every request, and pipes every response, through one more worker).
   */
  directUrl?: URL;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  post(path: string, body: unknown): Promise<Response>;
  bucket: ListableTarget;
  /** The folder Miniflare keeps the bucket in (objects' bytes are files under it). */
  persist: string;
  push(folder: string, id: string, options?: { force?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface WorkerOptions {
  budgetMb?: number;
  runMemoryMb?: number;
  /** Serve public/ in front of the worker (the playground and docs pages). */
  assets?: boolean;
  maxBodyBytes?: number;
  /** "off" by default, as `npm run dev` runs; "on" checks keys like a deployed worker. */
  auth?: "on" | "off";
  /** Secrets by name (`API_KEY_*`), as `npm run keys:create` writes them. */
  secrets?: Record<string, string>;
  /** The RATE_LIMITER binding; without it nothing is limited. */
  rateLimit?: { limit: number; period: 10 | 60 };
  corsOrigins?: string;
  /** MODEL_ALIASES: other names for models, such as Workers AI's `@cf/...` ids. */
  aliases?: Record<string, string>;
  /**
   * Receives each line the worker writes to stdout: the access log, one line per request. By default
   * they are dropped, so tests and benchmarks print what they did before; stderr always passes.
   */
  onLog?: (line: string) => void;
  manifestTtlMs?: number;
  /** BATCHING: "off" makes concurrent requests take turns instead of sharing runs. */
  batching?: "on" | "off";
  /** Opens workerd's V8 inspector (Chrome DevTools Protocol) on this port, for CPU profiles. */
  inspectorPort?: number;
  /** Also serve the worker on a socket of its own (`directUrl`), for timing it without the proxy. */
  directSocket?: boolean;
  /** Another build than dist/ (`npm run build`), e.g. a benchmark's own worker. */
  dist?: string;
}

export async function startWorker(options: WorkerOptions = {}): Promise<TestWorker> {
  // Miniflare reads the variable when it starts workerd; a caller's own choice is kept.
  process.env.MINIFLARE_WORKERD_PATH ??= WORKERD_WRAPPER;
  const dist = options.dist ?? DIST_DIR;
  const wasm = (await readdir(dist)).filter((name) => name.endsWith(".wasm"));
  const persist = await mkdtemp(join(tmpdir(), "edge-r2-"));
  const mf = new Miniflare({
    modulesRoot: dist,
    modules: [
      { type: "ESModule", path: join(dist, "index.js") },
      ...wasm.map((name) => ({ type: "CompiledWasm" as const, path: join(dist, name) })),
    ],
    compatibilityDate: "2026-04-26",
    compatibilityFlags: ["enable_request_signal"],
    // The playground and docs, in front of the worker as wrangler.toml's [assets] puts them. Only on
    // request: Miniflare's asset router forwards requests as subrequests, and a client's disconnect
    // does not reach the worker through it, which the disconnect tests need to see.
    ...(options.assets ? { assets: { directory: PUBLIC_DIR, routerConfig: { has_user_worker: true } } } : {}),
    r2Buckets: { MODELS: "edge-inference-models" },
    r2Persist: persist,
    bindings: {
      MODEL_MEMORY_BUDGET_MB: String(options.budgetMb ?? 80),
      RUN_MEMORY_MB: String(options.runMemoryMb ?? 16),
      MAX_BODY_BYTES: String(options.maxBodyBytes ?? 8 * 1024 * 1024),
      AUTH: options.auth ?? "off",
      ...(options.corsOrigins === undefined ? {} : { CORS_ORIGINS: options.corsOrigins }),
      ...(options.aliases === undefined ? {} : { MODEL_ALIASES: JSON.stringify(options.aliases) }),
      ...options.secrets,
      ...(options.manifestTtlMs ? { MANIFEST_TTL_MS: String(options.manifestTtlMs) } : {}),
      ...(options.batching ? { BATCHING: options.batching } : {}),
    },
    ...(options.inspectorPort ? { inspectorPort: options.inspectorPort } : {}),
    ...(options.directSocket ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] } : {}),
    ...(options.rateLimit ? { ratelimits: { RATE_LIMITER: { simple: options.rateLimit } } } : {}),
    handleRuntimeStdio: captureStdout(options.onLog ?? (() => undefined)),
  });
  const url = await mf.ready;
  const directUrl = options.directSocket ? await mf.unsafeGetDirectURL() : undefined;
  const r2 = await mf.getR2Bucket("MODELS");
  const bucket = r2Target(r2 as never, "test R2", async () => undefined);
  const fetchPath = (path: string, init?: RequestInit) => fetchOnce(new URL(path, url), init);
  return {
    url,
    directUrl,
    fetch: fetchPath,
    post: (path, body) =>
      fetchPath(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    bucket,
    persist,
    async push(folder, id, options) {
      await pushModel(bucket, { folder, id, quiet: true, force: options?.force });
    },
    async close() {
      await mf.dispose();
      await rm(persist, { recursive: true, force: true });
    },
  };
}
/**
 * workerd closes idle keep-alive connections; a request that the client's pool sends on one just
 * as it closes fails before reaching the worker ("fetch failed", the socket closed by the other
 * side). Such a request is sent again, once, and said on stderr; anything else is the test's to see.
 */
async function fetchOnce(url: URL, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const closed = cause?.code === "UND_ERR_SOCKET" || cause?.code === "ECONNRESET";
    if (!closed || init?.signal?.aborted) throw error;
    process.stderr.write(
      `worker harness: ${url.pathname} sent again after ${cause?.code}: ${cause?.message}\n`,
    );
    return fetch(url, init);
  }
}

function captureStdout(onLog: (line: string) => void) {
  return (stdout: Readable, stderr: Readable) => {
    createInterface({ input: stdout }).on("line", onLog);
    stderr.pipe(process.stderr);
  };
}

export async function storedManifest(bucket: ListableTarget, id: string): Promise<Manifest> {
  const bytes = await bucket.get(modelKey(id, "manifest.json"));
  if (!bytes) throw new Error(`no manifest for ${id}`);
  return manifestSchema.parse(JSON.parse(new TextDecoder().decode(bytes)));
}

/** The store key of the bytes the worker loads for an ONNX file: its ORT-format copy if it has one. */
export async function loadedKey(
  bucket: ListableTarget,
  id: string,
  path = "onnx/model.onnx",
): Promise<string> {
  const manifest = await storedManifest(bucket, id);
  const file = manifest.files.find((f) => f.path === path);
  if (!file) throw new Error(`${id} has no ${path}`);
  return storeKey(manifest, ortFile(file) ?? file);
}
