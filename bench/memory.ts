import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { convertToOrt } from "../cli/lib/model-folder.js";
import { MODELS_DIR } from "../host/paths.js";
import { matMulModel } from "../host/tiny-onnx.js";
import { startWorker } from "../host/worker.js";
import { MANIFEST_FILE, type Manifest, modelKey, storeKey } from "../src/runtime/manifest.js";
import { mb, ratio, table } from "./stats.js";

const run = promisify(execFile);

/**
 * Memory on load: the growth of ORT's wasm memory while a session is created from an `.onnx`
 * and from its ORT-format copy with the bytes used in place (what the worker loads since
 * manifest schema 2), for every bundled ONNX file and a 55 MB int8 model. Each number comes from
 * a fresh isolate (workerd) or a fresh process (Node), where nothing else was loaded.
 */
export const MODEL_ID = "memory";

interface Stored {
  bytes: Uint8Array;
  size: number;
  sha256: string;
}

async function stored(path: string): Promise<Stored> {
  const bytes = new Uint8Array(await readFile(path));
  return { bytes, size: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/**
 * The store objects of a model made of one ONNX file, with or without its ORT-format copy.
 * The memory estimate is 1 byte, so the cache charges exactly what the load measured.
 */
export async function singleFileModel(onnxPath: string, ortPath?: string): Promise<Map<string, Uint8Array>> {
  const onnx = await stored(onnxPath);
  const ort = ortPath ? await stored(ortPath) : undefined;
  const file = {
    path: "onnx/model.onnx",
    size: onnx.size,
    sha256: onnx.sha256,
    onnx: {
      inputs: [],
      outputs: [],
      memory_bytes: 1,
      ...(ort ? { ort: { size: ort.size, sha256: ort.sha256 } } : {}),
    },
  };
  const manifest: Manifest = {
    schema_version: 2,
    id: MODEL_ID,
    task: "tensor",
    created_at: new Date().toISOString(),
    files: [file],
  };
  const objects = new Map([
    [modelKey(MODEL_ID, MANIFEST_FILE), new TextEncoder().encode(JSON.stringify(manifest))],
    [storeKey(manifest, file), onnx.bytes],
  ]);
  if (ort) objects.set(storeKey(manifest, { path: "onnx/model.ort", ...ort }), ort.bytes);
  return objects;
}

/** Growth of a fresh isolate's ORT memory while the worker loads the model (and runs nothing). */
async function workerGrowth(objects: Map<string, Uint8Array>): Promise<number> {
  const worker = await startWorker({ budgetMb: 4096 });
  try {
    for (const [key, bytes] of objects) await worker.bucket.put(key, bytes);
    const memory = async () =>
      ((await (await worker.fetch("/v1/stats")).json()) as { ort: { wasm_memory_bytes: number } }).ort
        .wasm_memory_bytes;
    const before = await memory();
    // An input the model does not have: the model is loaded, then the request is refused unrun.
    const response = await worker.post(`/v2/models/${MODEL_ID}/infer`, {
      inputs: [{ name: "not-an-input", shape: [1], datatype: "FP32", data: [0] }],
    });
    const body = (await response.json()) as { error?: { code: string } };
    if (body.error?.code !== "unknown_input") throw new Error(`unexpected answer ${JSON.stringify(body)}`);
    return (await memory()) - before;
  } finally {
    await worker.close();
  }
}

/** The same load in a fresh Node process, with what the engine keeps of its JS copy of the bytes. */
async function nodeLoad(onnxPath: string, ortPath?: string) {
  const script = join(import.meta.dirname, "memory-probe.ts");
  const args = ["--expose-gc", "--import", "tsx", script, onnxPath, ...(ortPath ? [ortPath] : [])];
  const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { grown_bytes: number; per_session_bytes: number; js_retained_bytes: number };
}

async function bundledOnnxFiles(): Promise<string[]> {
  const entries = await readdir(MODELS_DIR, { recursive: true });
  return entries
    .filter((path) => path.endsWith(".onnx") && !path.startsWith("recipes"))
    .sort()
    .map((path) => join(MODELS_DIR, path));
}

export async function benchMemory(only?: string[]): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), "bench-memory-"));
  try {
    // About the 54 MB int8 file EDGE-NOTES measured: 4096 x 13312 weights in 8-bit MatMulNBits.
    const synthetic = join(work, "model.onnx");
    await writeFile(synthetic, matMulModel({ inputs: 4096, outputs: 13312, weight: 0.5, int8: true }));
    const files = [...(await bundledOnnxFiles()), synthetic].filter(
      (path) => !only || only.some((name) => path.includes(`/${name}/`)),
    );
    const rows: string[][] = [];
    for (const onnxPath of files) {
      const name =
        onnxPath === synthetic
          ? "MatMulNBits int8 4096x13312 (synthetic)"
          : onnxPath.slice(MODELS_DIR.length + 1).replace("/onnx/", "/");
      process.stderr.write(`memory: ${name}\n`);
      const ortPath = join(work, `${rows.length}.ort`);
      await convertToOrt(onnxPath, ortPath);
      const onnxSize = (await readFile(onnxPath)).byteLength;
      const ortSize = (await readFile(ortPath)).byteLength;
      const fromOnnx = await workerGrowth(await singleFileModel(onnxPath));
      const fromOrt = await workerGrowth(await singleFileModel(onnxPath, ortPath));
      const nodeOnnx = await nodeLoad(onnxPath);
      const nodeOrt = await nodeLoad(onnxPath, ortPath);
      rows.push([
        name,
        mb(onnxSize),
        mb(ortSize),
        `${mb(fromOnnx)} (${ratio(fromOnnx, onnxSize)})`,
        `${mb(fromOrt)} (${ratio(fromOrt, ortSize)})`,
        `${mb(nodeOnnx.grown_bytes)} / ${mb(nodeOrt.grown_bytes)}`,
        `${mb(nodeOnnx.per_session_bytes)} (${ratio(nodeOnnx.per_session_bytes, onnxSize)}) / ${mb(nodeOrt.per_session_bytes)} (${ratio(nodeOrt.per_session_bytes, ortSize)})`,
        `${mb(nodeOnnx.js_retained_bytes)} / ${mb(nodeOrt.js_retained_bytes)}`,
      ]);
    }
    return [
      "### Memory on load: .onnx vs ORT format (wasm memory growth, MiB)",
      table(
        [
          "file",
          ".onnx MiB",
          ".ort MiB",
          "workerd, from .onnx",
          "workerd, from .ort in place",
          "Node, .onnx / .ort",
          "Node, each further session, .onnx / .ort",
          "JS bytes kept after load, .onnx / .ort",
        ],
        rows,
      ),
      "Growth is measured in a fresh isolate (or process) after ORT's start, so it includes ORT's first-session overhead and the heap's growth steps, and a small model can fit in the free space of ORT's initial heap (0.0); memory never shrinks. 'Each further session' loads the same file again in that process, as many times as make about 64 MiB (2 to 16), and divides the growth by that count: the steady cost once the heap has room, where the transient copy of an .onnx load is reused. The ORT file's bytes are placed in ORT's heap once and its initializers are read there; fp32 MatMul weights are also prepacked into a second copy either way. 'JS bytes kept' is the engine's own ArrayBuffer memory left once the session exists, after collections (Node, --expose-gc).",
    ].join("\n\n");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
