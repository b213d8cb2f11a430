import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { MeasuredRunCost } from "../../src/runtime/manifest.js";
import { MEASURED_WITH } from "../../src/tasks/run-memory.js";
import type { RunShape } from "./measure-runs.js";

/**
 * Run-memory measurements kept on disk (the checkout's .tmp/, ignored by git) under a key of what
 * they depend on: the ONNX file's bytes, the shape of the probes, the probing code, ORT's bootstrap
 * and the ORT version. Measuring takes seconds per file, and the same files are pushed again and again (every
 * re-push, every test worker); the ORT-format copy is not a key because its bytes differ from one
 * conversion to the next.
 */
const CACHE_DIR = join(import.meta.dirname, "..", "..", ".tmp", "run-costs");
/** The probes, and the runtime whose heap growth they read (its growth policy shapes every reading). */
const PROBE_SOURCES = [
  ...["measure-runs.ts", "run-probes.ts"].map((name) => join(import.meta.dirname, name)),
  join(import.meta.dirname, "..", "..", "src", "runtime", "ort.ts"),
];

export async function cachedRunCost(
  onnxSha256: string,
  shape: RunShape,
  measure: () => Promise<MeasuredRunCost | undefined>,
): Promise<MeasuredRunCost | undefined> {
  const hash = createHash("sha256").update(`${onnxSha256}\n${MEASURED_WITH}\n${JSON.stringify(shape)}\n`);
  for (const source of PROBE_SOURCES) hash.update(await readFile(source));
  const path = join(CACHE_DIR, `${hash.digest("hex")}.json`);
  const cached = await readFile(path, "utf8").then(
    (text) => JSON.parse(text) as MeasuredRunCost,
    () => undefined,
  );
  if (cached) return cached;
  const measured = await measure();
  if (measured) {
    await mkdir(CACHE_DIR, { recursive: true });
    // Written whole, then renamed: a concurrent push never reads half a file.
    const partial = `${path}.${process.pid}.partial`;
    await writeFile(partial, JSON.stringify(measured));
    await rename(partial, path);
  }
  return measured;
}
