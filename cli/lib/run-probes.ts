import { readFile } from "node:fs/promises";
import type { Tensor } from "onnxruntime-web/wasm";
import { createSession, type ModelFormat } from "../../src/runtime/load-session.js";
import type { TensorInfo } from "../../src/runtime/manifest.js";
import type { Ort } from "../../src/runtime/ort.js";
import { startOrtInNode } from "../../src/runtime/ort-node.js";
import { describeValues } from "../../src/runtime/session.js";

/**
 * Runs one model file at a list of sizes on a fresh ORT (its own process) and prints, per size,
 * how far ORT's wasm memory had grown past what loading the session (and its first run) took.
 *
 * wasm memory never shrinks and a finished run's memory is reused by the next, so a run shows
 * only as growth past the previous peak: the sizes must come in increasing order of work, and
 * each reading is the peak so far, which is what the largest run so far costs an isolate.
 * Usage: run-probes.ts <file> <onnx|ort> '<json Probe[]>' ['{"bytes": stop past this growth, "readings": stop after this many growing runs, "minBytes": counting only readings of at least this}'];
 * prints one JSON line.
 */
export interface Probe {
  rows: number;
  /** New tokens per row (the second dimension of `input_ids`); 1 for a model without tokens. */
  tokens: number;
  /** Positions already in a decoder's cache. */
  past: number;
  /** Length of the encoder's output a seq2seq decoder attends to. */
  encoder: number;
}

const [path = "", format = "ort", plan = "[]", stopAt = "{}"] = process.argv.slice(2);
const stop = JSON.parse(stopAt) as { bytes?: number; readings?: number; minBytes?: number };
try {
  const runtime = await startOrtInNode();
  const created = await createSession(runtime, new Uint8Array(await readFile(path)), format as ModelFormat);
  const inputs = describeValues(created.session.inputMetadata);
  const tokenDim = inputs.find((input) => input.name === "input_ids")?.shape[1];
  const probes = JSON.parse(plan) as Probe[];
  const run = async (probe: Probe) => {
    const feeds = Object.fromEntries(
      inputs.map((input) => [input.name, feed(runtime.ort, input, { ...probe, tokenDim })]),
    );
    const outputs = await created.session.run(feeds);
    for (const output of Object.values(outputs)) output.dispose();
  };
  // A session's first run allocates once what every later run reuses (kernels' buffers, a few MB
  // at most here): it does not grow with the work, and left in the readings it would bend the fit.
  if (probes[0]) await run(probes[0]);
  const loaded = runtime.wasmMemoryBytes();
  const grown: number[] = [];
  let increases = 0;
  for (const probe of probes) {
    await run(probe);
    const bytes = runtime.wasmMemoryBytes() - loaded;
    if (bytes > Math.max(0, ...grown) && bytes >= (stop.minBytes ?? 0)) increases++;
    grown.push(bytes);
    if (
      bytes >= (stop.bytes ?? Number.POSITIVE_INFINITY) ||
      increases >= (stop.readings ?? Number.POSITIVE_INFINITY)
    ) {
      break;
    }
  }
  process.stdout.write(`${JSON.stringify({ grown })}\n`);
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
  );
}

/** A valid input of the probe's size: token id 1, masks of ones, positions counted from the past. */
function feed(ort: Ort, input: TensorInfo, probe: Sized): Tensor {
  const dims = input.shape.map((dim, axis) => size(dim, axis, probe));
  const count = dims.reduce((product, dim) => product * dim, 1);
  if (input.type === "bool")
    return new ort.Tensor("bool", new Uint8Array(count).fill(probe.past > 0 ? 1 : 0), dims);
  if (input.type === "int64") {
    const last = dims.at(-1) ?? 1;
    const values = BigInt64Array.from({ length: count }, (_, index) =>
      BigInt(
        input.name.includes("position") ? probe.past + (index % last) : input.name.includes("type") ? 0 : 1,
      ),
    );
    return new ort.Tensor("int64", values, dims);
  }
  if (input.type === "int32") return new ort.Tensor("int32", new Int32Array(count).fill(1), dims);
  return new ort.Tensor("float32", new Float32Array(count), dims);
}

/**
 * A dimension's size from Optimum's names: the batch, the new tokens (whatever `input_ids`'s second
 * dimension is called), the cache (`past_…`), sums of these (`past_sequence_length + sequence_length`);
 * any other named dimension is an encoder's length.
 */
function size(dim: number | string, axis: number, probe: Sized): number {
  if (typeof dim === "number") return dim;
  if (dim.includes("+")) {
    return dim.split("+").reduce((sum, part) => sum + size(part.trim(), axis, probe), 0);
  }
  if (axis === 0 && dim.startsWith("batch")) return probe.rows;
  if (dim.startsWith("past")) return probe.past;
  if (dim === probe.tokenDim) return probe.tokens;
  return probe.encoder;
}

type Sized = Probe & { tokenDim: number | string | undefined };
