import { ApiError } from "../errors.js";
import {
  findFile,
  type Manifest,
  type ManifestFile,
  onnxFiles,
  type Task,
  variantName,
} from "../runtime/manifest.js";
import type { ModelRegistry } from "../runtime/registry.js";

/**
 * The dtypes users name, as transformers.js names them, and the file suffixes each may be found
 * under (first match wins). `int8` also finds `_quantized`, the name this project's own int8
 * files have always had.
 */
const DTYPE_SUFFIXES: Record<string, string[]> = {
  fp32: [""],
  fp16: ["_fp16"],
  q8: ["_quantized"],
  int8: ["_int8", "_quantized"],
  uint8: ["_uint8"],
  q4: ["_q4"],
  q4f16: ["_q4f16"],
  bnb4: ["_bnb4"],
};

/**
 * Picks the ONNX file of a role (`model`, `encoder_model`, `decoder_model_merged`, ...) in the
 * requested dtype; by default int8 when the folder has it (4x smaller, and fast in WASM), else fp32.
 */
export function pickOnnx(manifest: Manifest, bases: readonly string[], dtype?: string): ManifestFile {
  const suffixes = dtype === undefined ? ["_quantized", ""] : DTYPE_SUFFIXES[dtype];
  if (!suffixes) {
    throw new ApiError(
      400,
      `Unknown dtype '${dtype}'; use one of: ${Object.keys(DTYPE_SUFFIXES).join(", ")}.`,
      "invalid_value",
      "model",
    );
  }
  for (const base of bases) {
    for (const suffix of suffixes) {
      const file = findFile(manifest, `onnx/${base}${suffix}.onnx`);
      if (file?.onnx) return file;
    }
  }
  const have = onnxFiles(manifest)
    .map((f) => variantName(f.path))
    .join(", ");
  throw new ApiError(
    400,
    `The model '${manifest.id}' has no ${bases.join(" or ")} ONNX file${dtype ? ` in ${dtype}` : ""} (it has: ${have}).`,
    "model_file_missing",
    "model",
  );
}

/** `name` or `name:dtype` (for example `shop-assistant:fp32`). */
export function parseModelRef(ref: string): { id: string; dtype?: string } {
  const colon = ref.lastIndexOf(":");
  if (colon <= 0) return { id: ref };
  return { id: ref.slice(0, colon), dtype: ref.slice(colon + 1) };
}

/** The manifest a model reference names, and the dtype it asks for. */
export async function findModel(
  registry: ModelRegistry,
  ref: string,
): Promise<{ manifest: Manifest; dtype?: string }> {
  const { id, dtype } = parseModelRef(ref);
  return { manifest: await registry.manifest(id), dtype };
}

/** The one model of a task in the store, for requests that name none (there is nothing to guess between). */
export async function onlyModelFor(registry: ModelRegistry, task: Task, what: string): Promise<Manifest> {
  const candidates = (await registry.list()).filter((manifest) => manifest.task === task);
  const only = candidates.length === 1 ? candidates[0] : undefined;
  if (!only) {
    const have = candidates.length === 0 ? "none" : candidates.map((manifest) => manifest.id).join(", ");
    throw new ApiError(400, `Name ${what} model: the store has ${have}.`, "model_required", "model");
  }
  return only;
}
