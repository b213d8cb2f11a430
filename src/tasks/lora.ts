import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";
import type { Manifest } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import { readSafetensors } from "../runtime/safetensors.js";
import type { Feeds, ModelSession } from "../runtime/session.js";

/**
 * LoRA adapters over a base whose graph has LoRA inputs (cli/lib/lora/graph.ts): every projection
 * takes `lora.<module>.A` [lora_batch, in, r] and `.B` [lora_batch, r, out]. An adapter's weights are
 * fed per run, so the base and all its adapters share one session, and rows of different adapters
 * share one decode step: each row gets its adapter's matrices, zero-padded to the widest rank in the
 * step (zero columns of A and rows of B add nothing). A run whose rows all use the same adapter
 * (or none) feeds it once, as lora_batch 1, which MatMul broadcasts over the rows.
 */
export interface LoraAdapter {
  id: string;
  rank: number;
  /** Per input name, A as [in, r] and B as [r, out] (the scale already folded into B at push). */
  weights: Map<string, Float32Array>;
}

export interface LoraInput {
  a: string;
  b: string;
  in: number;
  out: number;
}

/** The LoRA inputs of a session, in pairs; empty for a graph without them. */
export function loraInputs(session: ModelSession): LoraInput[] {
  const found: LoraInput[] = [];
  for (const input of session.inputs) {
    const match = /^lora\.(.+)\.A$/.exec(input.name);
    const b = match ? session.input(`lora.${match[1]}.B`) : undefined;
    const inDim = input.shape[1];
    const outDim = b?.shape[2];
    if (!b || typeof inDim !== "number" || typeof outDim !== "number") continue;
    found.push({ a: input.name, b: b.name, in: inDim, out: outDim });
  }
  return found;
}

/** An adapter's weights, read and verified once per isolate and charged to the memory budget. */
export function loadAdapter(registry: ModelRegistry, manifest: Manifest): Promise<Lease<LoraAdapter>> {
  const info = manifest.adapter;
  if (!info) return Promise.reject(new Error(`'${manifest.id}' is not an adapter`));
  return registry.asset(manifest, "lora", info.weights.size, async () => {
    const tensors = readSafetensors(await registry.readFile(manifest, info.weights.path));
    return {
      id: manifest.id,
      rank: info.rank,
      weights: new Map([...tensors].map(([name, tensor]) => [name, tensor.data])),
    };
  });
}

/** Refuses an adapter whose modules the base's graph does not have in the same shapes (the base was pushed again). */
export function assertAdapterFits(adapter: LoraAdapter, inputs: readonly LoraInput[], baseId: string): void {
  const byName = new Map(
    inputs.flatMap((input) => [[input.a, input.in] as const, [input.b, input.out] as const]),
  );
  for (const [name, data] of adapter.weights) {
    const dim = byName.get(name);
    if (dim === undefined || data.length !== dim * adapter.rank) {
      throw new ApiError(
        502,
        `The adapter '${adapter.id}' does not fit the current '${baseId}' (${name}): push the adapter again.`,
        "bad_model",
      );
    }
  }
}

const single = new WeakMap<LoraAdapter | LoraInput[], Feeds>();
const lastMixed = new WeakMap<LoraInput[], { key: string; feeds: Feeds }>();

/** The LoRA feeds of a run whose rows use `adapters` (undefined: the base). */
export function loraFeeds(
  ort: ModelSession["ort"],
  inputs: LoraInput[],
  adapters: readonly (LoraAdapter | undefined)[],
): Feeds {
  if (inputs.length === 0) return {};
  const first = adapters[0];
  if (adapters.every((adapter) => adapter === first)) {
    const owner = first ?? inputs;
    let feeds = single.get(owner);
    if (!feeds) {
      feeds = stacked(ort, inputs, [first]);
      single.set(owner, feeds);
    }
    return feeds;
  }
  // A batch keeps its rows from step to step: the stacked tensors are rebuilt only when they change.
  const key = adapters.map((adapter) => adapter?.id ?? "").join("\n");
  const cached = lastMixed.get(inputs);
  if (cached?.key === key) return cached.feeds;
  const feeds = stacked(ort, inputs, adapters);
  lastMixed.set(inputs, { key, feeds });
  return feeds;
}

/**
 * What a step's LoRA feeds take: held in JS and copied into ORT's memory for the run. One adapter for
 * every row is fed once; rows of different adapters take a copy each at the widest rank, which the
 * batcher counts against the run allowance before it lets a row in.
 */
export function loraFeedBytes(
  inputs: readonly LoraInput[],
  adapters: readonly (LoraAdapter | undefined)[],
): number {
  const perRank = inputs.reduce((sum, input) => sum + (input.in + input.out) * 4, 0);
  const rank = Math.max(0, ...adapters.map((adapter) => adapter?.rank ?? 0));
  const first = adapters[0];
  const copies = adapters.every((adapter) => adapter === first) ? 1 : adapters.length;
  return 2 * copies * rank * perRank;
}

/** One [rows, in, R] and [rows, R, out] pair per module, R the widest rank; rows without a module's weights are zeros. */
function stacked(
  ort: ModelSession["ort"],
  inputs: LoraInput[],
  adapters: readonly (LoraAdapter | undefined)[],
): Feeds {
  const rank = Math.max(0, ...adapters.map((adapter) => adapter?.rank ?? 0));
  const rows = adapters.length;
  const feeds: Feeds = {};
  for (const input of inputs) {
    const a = new Float32Array(rows * input.in * rank);
    const b = new Float32Array(rows * rank * input.out);
    adapters.forEach((adapter, row) => {
      const ownA = adapter?.weights.get(input.a);
      const ownB = adapter?.weights.get(input.b);
      if (!adapter || !ownA || !ownB) return;
      const r = adapter.rank;
      // A [in, r] into [in, R]: each of its rows lands at the start of a wider row.
      for (let i = 0; i < input.in; i++)
        a.set(ownA.subarray(i * r, (i + 1) * r), (row * input.in + i) * rank);
      // B [r, out] is the first r rows of [R, out].
      b.set(ownB, row * rank * input.out);
    });
    feeds[input.a] = new ort.Tensor("float32", a, [rows, input.in, rank]) as Tensor;
    feeds[input.b] = new ort.Tensor("float32", b, [rows, rank, input.out]) as Tensor;
  }
  return feeds;
}
