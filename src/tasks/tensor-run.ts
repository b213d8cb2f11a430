import type { Manifest, ManifestFile } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import type { Feeds } from "../runtime/session.js";
import { genaiModelConfig, readGenaiConfig } from "./genai-config.js";
import { readModelConfig } from "./model-config.js";
import { assertRunFits, fileRunCost, MEASURED_BASIS } from "./run-memory.js";

/**
 * Refuses, before running, a tensor-API request whose run would exceed the per-run allowance.
 * A file measured at push is charged what its runs measured: rows (the first dimension) of tokens
 * (the second dimension of an int64 [rows, tokens] input, else 1). Otherwise token inputs of a
 * transformer whose config.json (or genai_config.json) says its sizes are costed like any other run of it, and any other
 * model is charged its inputs twice (the copy into wasm and outputs of similar size), as nothing
 * more is known about it.
 */
export async function assertTensorRunFits(
  registry: ModelRegistry,
  manifest: Manifest,
  file: ManifestFile,
  feeds: Feeds,
): Promise<void> {
  const genai = await registry.readJson(manifest, "genai_config.json");
  const config = readModelConfig(
    (await registry.readJson(manifest, "config.json")) ?? (genai && genaiModelConfig(readGenaiConfig(genai))),
  );
  const tokens = Object.values(feeds).find((tensor) => tensor.type === "int64" && tensor.dims.length === 2);
  const cost = fileRunCost(file, config, { logits: config.vocabSize !== undefined, cache: false });
  if (cost.basis === MEASURED_BASIS) {
    const [rows = 1, length = 1] = tokens?.dims ?? [Object.values(feeds)[0]?.dims[0] ?? 1, 1];
    assertRunFits(cost, rows, length, registry.runAllowanceBytes);
    return;
  }
  if (tokens && config.hidden !== undefined) {
    const [rows = 1, length = 1] = tokens.dims;
    assertRunFits(cost, rows, length, registry.runAllowanceBytes);
    return;
  }
  const inputBytes = Object.values(feeds).reduce(
    (sum, tensor) => sum + tensorBytes(tensor.type, tensor.size),
    0,
  );
  assertRunFits(
    { perToken: 2 * inputBytes, perPosition: 0, perAttended: 0, basis: "estimated from the inputs' size" },
    1,
    1,
    registry.runAllowanceBytes,
  );
}

function tensorBytes(type: string, elements: number): number {
  if (type === "int64" || type === "uint64" || type === "float64") return 8 * elements;
  if (type === "float32" || type === "int32" || type === "uint32") return 4 * elements;
  if (type === "float16" || type === "int16" || type === "uint16") return 2 * elements;
  return elements;
}
