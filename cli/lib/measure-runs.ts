import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ModelFormat } from "../../src/runtime/load-session.js";
import type { MeasuredRunCost, TensorInfo } from "../../src/runtime/manifest.js";
import { MEASURED_WITH } from "../../src/tasks/run-memory.js";
import type { Probe } from "./run-probes.js";

/**
 * Measures what a model file's runs add to ORT's wasm memory, for the manifest: a few runs of
 * growing size on a fresh ORT, fitted to the engine's model of a run (see src/tasks/run-memory.ts),
 *   growth = rows x (tokens x per_token + attended x per_position + tokens x attended x per_attended) - slack,
 * where `slack` is what loading the session left free in ORT's heap (runs smaller than it show no
 * growth at all). The slack is not recorded: another model's load may take it, so the engine
 * charges every run in full.
 */
export interface RunSample {
  rows: number;
  tokens: number;
  attended: number;
  /** Growth of wasm memory past the loaded session's; 0 when the run fit in the slack. */
  grown: number;
}

export interface RunShape {
  inputs: readonly TensorInfo[];
  /** The longest sequence the model takes (positions), which bounds the probes. */
  contextLength: number | undefined;
}

/**
 * Runs the probes and fits them; undefined when the model's inputs are not ones the probes know
 * how to fill, or when too few runs grew memory to fit (the engine then estimates from config.json).
 */
export async function measureRuns(
  path: string,
  format: ModelFormat,
  shape: RunShape,
): Promise<MeasuredRunCost | undefined> {
  const plans = probePlans(shape);
  if (!plans) return undefined;
  const samples: RunSample[] = [];
  for (const plan of plans) {
    const grown = await runProbes(path, format, plan.probes);
    grown.forEach((bytes, index) => {
      const probe = plan.probes[index] as Probe;
      // A reading no higher than the one before only says the run fit in what was already there.
      const informative = bytes > Math.max(0, ...grown.slice(0, index));
      samples.push({
        rows: probe.rows,
        tokens: probe.tokens,
        attended: plan.attended(probe),
        grown: informative ? bytes : 0,
      });
    });
  }
  const fit = fitRunCost(samples);
  return fit && { ...fit, measured_with: MEASURED_WITH };
}

interface Plan {
  probes: Probe[];
  attended: (probe: Probe) => number;
}

/**
 * Sizes for each kind of run a file makes, each list growing in both rows x tokens and
 * rows x tokens x attended, so every reading is the cost of its own run. A model with tokens gets
 * whole sequences (a prompt's prefill, an encoder's input); one with a cache also gets single-token
 * steps over a growing cache; a model without tokens (a plain tensor model) gets growing batches.
 */
export function probePlans(shape: RunShape): Plan[] | undefined {
  const names = new Set(shape.inputs.map((input) => input.name));
  const cached = shape.inputs.some((input) => input.name.startsWith("past_key_values."));
  const encoderSide = names.has("encoder_hidden_states");
  const longest = Math.min(512, shape.contextLength ?? 128);
  const ladder = (length: (scale: number) => number) =>
    (
      [
        [1, 1 / 4],
        [2, 1 / 4],
        [4, 1 / 4],
        [8, 1 / 4],
        [8, 1 / 2],
        [16, 1 / 2],
        [16, 1],
        [32, 1],
        [64, 1],
        [128, 1],
        [256, 1],
        [512, 1],
      ] as const
    ).map(([rows, scale]) => ({ rows, length: length(scale) }));
  if (!names.has("input_ids")) {
    if (shape.inputs.some((input) => input.shape.slice(1).some((dim) => typeof dim !== "number"))) {
      return undefined;
    }
    const probes = Array.from({ length: 13 }, (_, k) => ({
      rows: 64 * 2 ** k,
      tokens: 1,
      past: 0,
      encoder: 0,
    }));
    return [{ probes, attended: () => 1 }];
  }
  const sequences: Plan = {
    probes: ladder((scale) => Math.max(1, Math.floor(longest * scale))).map(({ rows, length }) => ({
      rows,
      tokens: length,
      past: 0,
      encoder: length,
    })),
    attended: (probe) => probe.tokens + (encoderSide ? probe.encoder : 0),
  };
  if (!cached) return [sequences];
  const steps: Plan = {
    probes: ladder((scale) => Math.max(1, Math.floor((longest - 1) * scale))).map(({ rows, length }) => ({
      rows,
      tokens: 1,
      past: length,
      encoder: length,
    })),
    attended: (probe) => probe.past + 1 + (encoderSide ? probe.encoder : 0),
  };
  return [sequences, steps];
}

/** Readings past this growth end a plan: the fit has what it needs, and bigger runs only take time. */
const ENOUGH_BYTES = 64 * 2 ** 20;
const ENOUGH_READINGS = 3;
/**
 * ORT's heap grows in 1 MB steps (runtime/ort.ts), so a reading of a few MB is off by up to a step,
 * a large part of it: three such readings (intent-bert's 1, 3 and 10 MB) fitted a cost 44% above a
 * 40 x 100-token run's growth. Only readings of at least this count towards ENOUGH_READINGS.
 */
const SOLID_READING_BYTES = 8 * 2 ** 20;

function runProbes(path: string, format: ModelFormat, probes: Probe[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL("./run-probes.ts", import.meta.url));
    const stop = JSON.stringify({
      bytes: ENOUGH_BYTES,
      readings: ENOUGH_READINGS,
      minBytes: SOLID_READING_BYTES,
    });
    const args = ["--import", "tsx", script, path, format, JSON.stringify(probes), stop];
    execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(stderr.trim() || error.message));
      const message = JSON.parse(stdout) as { grown: number[] } | { error: string };
      if ("error" in message) reject(new Error(message.error));
      else resolve(message.grown);
    });
  });
}

export interface FittedRunCost {
  per_token: number;
  per_position: number;
  per_attended: number;
}

/**
 * Least squares of the growth over the runs that grew memory, with every coefficient and the slack
 * kept non-negative: each subset of the four unknowns is solved and the closest non-negative
 * solution kept. Runs that did not grow memory only say their cost was within the slack, so they
 * are left out. Undefined with fewer growing runs than the unknowns of any solution.
 */
export function fitRunCost(samples: readonly RunSample[]): FittedRunCost | undefined {
  const grew = samples.filter((sample) => sample.grown > 0);
  const columns = [
    (s: RunSample) => s.rows * s.tokens,
    (s: RunSample) => s.rows * s.attended,
    (s: RunSample) => s.rows * s.tokens * s.attended,
    () => -1,
  ];
  let best: { residual: number; coefficients: number[] } | undefined;
  for (let mask = 1; mask < 16; mask++) {
    const used = [0, 1, 2, 3].filter((index) => mask & (1 << index));
    // The slack alone predicts the same growth for every run: that is no fit.
    if (used.every((index) => index === 3)) continue;
    if (grew.length < used.length) continue;
    const rows = grew.map((sample) =>
      used.map((index) => (columns[index] as (s: RunSample) => number)(sample)),
    );
    const solution = leastSquares(
      rows,
      grew.map((sample) => sample.grown),
    );
    if (!solution || solution.some((value) => value < 0)) continue;
    const coefficients = [0, 0, 0, 0];
    used.forEach((index, k) => {
      coefficients[index] = solution[k] as number;
    });
    const residual = grew.reduce((sum, sample, k) => {
      const predicted = (rows[k] as number[]).reduce((acc, x, j) => acc + x * (solution[j] as number), 0);
      return sum + (predicted - sample.grown) ** 2;
    }, 0);
    if (!best || residual < best.residual) best = { residual, coefficients };
  }
  if (!best) return undefined;
  const [perToken = 0, perPosition = 0, perAttended = 0] = best.coefficients;
  return {
    per_token: Math.round(perToken),
    per_position: Math.round(perPosition),
    per_attended: Math.round(perAttended),
  };
}

/** Solves the normal equations (columns scaled to 1 first, for conditioning); undefined when singular. */
function leastSquares(rows: number[][], targets: number[]): number[] | undefined {
  const width = rows[0]?.length ?? 0;
  const scale = Array.from(
    { length: width },
    (_, j) => Math.max(...rows.map((row) => Math.abs(row[j] as number))) || 1,
  );
  const a = Array.from({ length: width }, (_, i) =>
    Array.from({ length: width + 1 }, (_, j) =>
      rows.reduce((sum, row, k) => {
        const xi = (row[i] as number) / (scale[i] as number);
        const xj = j < width ? (row[j] as number) / (scale[j] as number) : (targets[k] as number);
        return sum + xi * xj;
      }, 0),
    ),
  );
  const tiny = 1e-10 * Math.max(...a.map((row, i) => Math.abs(row[i] as number)));
  for (let col = 0; col < width; col++) {
    let pivot = col;
    for (let r = col + 1; r < width; r++) {
      if (Math.abs((a[r] as number[])[col] as number) > Math.abs((a[pivot] as number[])[col] as number))
        pivot = r;
    }
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    const lead = (a[col] as number[])[col] as number;
    if (Math.abs(lead) <= tiny) return undefined;
    for (let r = 0; r < width; r++) {
      if (r === col) continue;
      const factor = ((a[r] as number[])[col] as number) / lead;
      for (let c = col; c <= width; c++) {
        (a[r] as number[])[c] =
          ((a[r] as number[])[c] as number) - factor * ((a[col] as number[])[c] as number);
      }
    }
  }
  return Array.from(
    { length: width },
    (_, i) =>
      ((a[i] as number[])[width] as number) / ((a[i] as number[])[i] as number) / (scale[i] as number),
  );
}
