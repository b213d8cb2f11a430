import { ApiError } from "../errors.js";
import type { ManifestFile } from "../runtime/manifest.js";
import type { ModelConfig } from "./model-config.js";

/**
 * What one model run adds to ORT's wasm memory, so that work can be split, or refused, before it
 * runs. wasm memory never shrinks, and ORT reuses what a finished run freed for the next run of
 * any session; so the isolate's peak is its models plus its largest single run, and every run is
 * kept under one per-run allowance (`RUN_MEMORY_MB`).
 *
 * A run of `rows` rows of `tokens` new tokens attending to `attended` positions costs
 *   rows x (tokens x perToken + attended x perPosition + tokens x attended x perAttended):
 * per new token its hidden-width tensors, feed-forward layer and logits; per attended position,
 * whatever the number of new tokens, a decoder's cache copied into wasm and out again; per new
 * token and attended position, the attention scores.
 *
 * `models:push` measures these for each file (cli/lib/measure-runs.ts); the engine uses the
 * measurement, taken `MEASURED_MARGIN` higher, when the manifest has one from the runtime it runs.
 * Older manifests get a transformer's estimate from config.json: per token, a few hidden-width
 * tensors, the feed-forward layer and a row of logits; per token and attended position, the
 * attention scores and their softmax for every head and a decoder's cache. Calibrated on
 * intent-bert (32 x 128 tokens grew wasm by 46.9 MB: 11.7 KB per token; this estimate gives
 * 12.3 KB) and on shop-assistant's prefill (512 tokens at once: 17.3 MB; estimated 25 MB before
 * the margin), then taken 25% higher.
 */
export interface RunCost {
  perToken: number;
  perPosition: number;
  perAttended: number;
  /** Where the numbers come from, as a refusal names it. */
  basis: string;
}

/** The runtime whose runs the manifest's measurements describe; other measurements are ignored. */
export const MEASURED_WITH = "onnxruntime-web 1.30.0";

/**
 * Measurements fit the runs that were made within a few percent to 25% (the wasm heap grows in
 * steps), and a request's run may differ from every probe in shape: 30% above the fit.
 */
export const MEASURED_MARGIN = 1.3;
export const MEASURED_BASIS = "measured at push";
export const ESTIMATED_BASIS = "estimated from config.json";

const FLOAT = 4;
const SAFETY = 1.25;

export function runCost(config: ModelConfig, options: { logits: boolean; cache: boolean }): RunCost {
  const hidden = config.hidden ?? 768;
  const intermediate = config.intermediate ?? 4 * hidden;
  // A model whose config names no attention heads has no attention (static embeddings, MLPs).
  const heads = config.heads ?? 0;
  const logits = options.logits ? (config.vocabSize ?? 32_000) : 0;
  const kvWidth = heads === 0 ? 0 : (config.kvHeads ?? heads) * (config.headDim ?? hidden / heads);
  const cache = options.cache ? (config.layers ?? 12) * 2 * kvWidth * 2 : 0;
  return {
    perToken: SAFETY * FLOAT * (4 * hidden + intermediate + logits),
    perPosition: 0,
    perAttended: SAFETY * FLOAT * (2 * heads + cache),
    basis: ESTIMATED_BASIS,
  };
}

/** The file's measured cost when its manifest entry has one from this runtime, else the estimate. */
export function fileRunCost(
  file: ManifestFile,
  config: ModelConfig,
  options: { logits: boolean; cache: boolean },
): RunCost {
  const measured = file.onnx?.run_cost;
  if (measured?.measured_with !== MEASURED_WITH) return runCost(config, options);
  return {
    perToken: MEASURED_MARGIN * measured.per_token,
    perPosition: MEASURED_MARGIN * measured.per_position,
    perAttended: MEASURED_MARGIN * measured.per_attended,
    basis: MEASURED_BASIS,
  };
}

/** How a refusal names the basis of a check that used several costs. */
export function basisOf(...costs: RunCost[]): string {
  return [...new Set(costs.map((cost) => cost.basis))].join(" and ");
}

/** Bytes for `rows` rows of `tokens` new tokens each, attending to `attended` positions. */
export function runBytes(cost: RunCost, rows: number, tokens: number, attended = tokens): number {
  return rows * (tokens * (cost.perToken + cost.perAttended * attended) + attended * cost.perPosition);
}

/** The largest run a batch of rows padded to `longest` tokens makes, in bytes. */
export type BatchBytes = (rows: number, longest: number) => number;

/**
 * Splits rows into consecutive chunks whose runs each fit the allowance when padded to their
 * longest row. Order is kept, so outputs concatenate back in input order. A row that cannot fit
 * even alone is refused before anything runs, naming `basis` (where `bytes` gets its numbers).
 */
export function chunkRows<T>(
  rows: readonly T[],
  length: (row: T) => number,
  bytes: BatchBytes,
  allowance: number,
  basis: string,
  maxRows = Number.POSITIVE_INFINITY,
): T[][] {
  for (const row of rows) assertFits(bytes(1, length(row)), `1 x ${length(row)} tokens`, allowance, basis);
  const chunks: T[][] = [];
  let current: T[] = [];
  let longest = 0;
  for (const row of rows) {
    const nextLongest = Math.max(longest, length(row));
    const fits = current.length < maxRows && bytes(current.length + 1, nextLongest) <= allowance;
    if (current.length > 0 && !fits) {
      chunks.push(current);
      current = [];
    }
    longest = current.length === 0 ? length(row) : nextLongest;
    current.push(row);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Refuses, before running, a run that alone exceeds the allowance. */
export function assertRunFits(
  cost: RunCost,
  rows: number,
  tokens: number,
  allowance: number,
  attended = tokens,
): void {
  assertFits(runBytes(cost, rows, tokens, attended), `${rows} x ${tokens} tokens`, allowance, cost.basis);
}

function assertFits(bytes: number, shape: string, allowance: number, basis: string): void {
  if (bytes > allowance) {
    throw new ApiError(
      413,
      `This request needs one model run of about ${mb(bytes)} (${shape}; ${basis}), more than the ${mb(allowance)} a run may use in this isolate (RUN_MEMORY_MB); send shorter inputs.`,
      "run_too_large",
    );
  }
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}
