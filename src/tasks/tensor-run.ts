import type { Manifest } from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";
import type { Feeds } from "../runtime/session.js";
import { genaiModelConfig, readGenaiConfig } from "./genai-config.js";
import { readModelConfig } from "./model-config.js";
import { assertRunFits, runCost } from "./run-memory.js";

/**
 * Refuses, before running, a tensor-API request whose run would exceed the per-run allowance.
 * Token inputs (int64, [rows, tokens]) of a transformer whose config.json (or genai_config.json) says its sizes are
 * costed like any other run of it; any other model is charged its inputs twice (the copy into
 * wasm and outputs of similar size), as nothing more is known about it.
 */
export async function assertTensorRunFits(
  registry: ModelRegistry,
  manifest: Manifest,
  feeds: Feeds,
): Promise<void> {
  const genai = await registry.readJson(manifest, "genai_config.json");
  const config = readModelConfig(
    (await registry.readJson(manifest, "config.json")) ?? (genai && genaiModelConfig(readGenaiConfig(genai))),
  );
  const tokens = Object.values(feeds).find((tensor) => tensor.type === "int64" && tensor.dims.length === 2);
  if (tokens && config.hidden !== undefined) {
    const [rows = 1, length = 1] = tokens.dims;
    const cost = runCost(config, { logits: config.vocabSize !== undefined, cache: false });
    assertRunFits(cost, rows, length, registry.runAllowanceBytes);
    return;
  }
  const inputBytes = Object.values(feeds).reduce(
    (sum, tensor) => sum + tensorBytes(tensor.type, tensor.size),
    0,
  );
  assertRunFits({ perToken: 2 * inputBytes, perAttended: 0 }, 1, 1, registry.runAllowanceBytes);
}

function tensorBytes(type: string, elements: number): number {
  if (type === "int64" || type === "uint64" || type === "float64") return 8 * elements;
  if (type === "float32" || type === "int32" || type === "uint32") return 4 * elements;
  if (type === "float16" || type === "int16" || type === "uint16") return 2 * elements;
  return elements;
}
