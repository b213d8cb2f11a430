import type { ManifestFile, Task, TensorInfo } from "../../src/runtime/manifest.js";
import type { GenaiConfig } from "../../src/tasks/genai-config.js";
import { readModelConfig } from "../../src/tasks/model-config.js";
import { FolderError } from "./folder-error.js";

/**
 * Refuses, at push time, a folder the engine could load but not serve for its task, naming what
 * is missing, instead of accepting it and failing on every request. It reads the same things the
 * engine reads: the ONNX files' names, inputs and outputs, and config.json.
 */
export function checkServable(
  task: Task,
  files: readonly ManifestFile[],
  config: Record<string, unknown>,
): void {
  const onnx = files.filter((file) => file.onnx !== undefined);
  const role = (base: string) =>
    onnx.filter((file) => new RegExp(`^onnx/${base}(_[a-z0-9]+)?\\.onnx$`).test(file.path));
  const need = (found: ManifestFile[], what: string) => {
    if (found.length === 0)
      throw new FolderError(`A ${task} folder needs ${what}; this one has ${names(onnx)}.`);
    return found;
  };
  const modelConfig = readModelConfig(config);
  const fixedOrConfig = (file: ManifestFile, past: TensorInfo | undefined) => {
    if (!past) return;
    const [, heads, , headDim] = past.shape;
    const known = (dim: number | string | undefined, fallback: number | undefined) =>
      typeof dim === "number" || fallback !== undefined;
    if (!known(heads, modelConfig.kvHeads) || !known(headDim, modelConfig.headDim)) {
      throw new FolderError(
        `${file.path}: the cache input ${past.name} has no fixed head count or head size, and config.json gives neither.`,
      );
    }
  };
  switch (task) {
    case "text-generation": {
      for (const file of need(
        [...role("model"), ...role("decoder_model_merged")],
        "onnx/model.onnx or onnx/decoder_model_merged.onnx",
      )) {
        requireValues(file, "inputs", ["input_ids"]);
        requireValues(file, "outputs", ["logits"]);
        const pasts = inputsMatching(file, /^past_key_values\.\d+\.(key|value)$/);
        requireValues(
          file,
          "outputs",
          pasts.map((past) => past.name.replace("past_key_values", "present")),
        );
        fixedOrConfig(file, pasts[0]);
      }
      return;
    }
    case "translation": {
      for (const file of need(role("encoder_model"), "onnx/encoder_model.onnx")) {
        requireValues(file, "outputs", ["last_hidden_state"]);
      }
      const merged = role("decoder_model_merged");
      const decoders =
        merged.length > 0
          ? merged
          : need(
              role("decoder_model"),
              "a merged decoder, or decoder_model.onnx with decoder_with_past_model.onnx",
            );
      if (merged.length === 0)
        need(role("decoder_with_past_model"), "onnx/decoder_with_past_model.onnx beside decoder_model.onnx");
      // The with-past decoder of a pair reads the encoder through its cache, not its states.
      for (const file of [...decoders, ...role("decoder_with_past_model")]) {
        const first = !file.path.includes("decoder_with_past_model");
        requireValues(file, "inputs", first ? ["input_ids", "encoder_hidden_states"] : ["input_ids"]);
        requireValues(file, "outputs", ["logits"]);
        fixedOrConfig(file, inputsMatching(file, /^past_key_values\.\d+\.decoder\.key$/)[0]);
      }
      return;
    }
    case "feature-extraction":
    case "text-classification": {
      for (const file of need(role("model"), "onnx/model.onnx")) {
        requireValues(file, "inputs", ["input_ids"]);
        const wanted =
          task === "text-classification" ? ["logits"] : ["last_hidden_state", "sentence_embedding"];
        if (!wanted.some((name) => file.onnx?.outputs.some((output) => output.name === name))) {
          throw new FolderError(
            `${file.path} has no ${wanted.join(" or ")} output, which a ${task} model returns.`,
          );
        }
      }
      return;
    }
    case "tensor":
      return;
  }
}

function requireValues(file: ManifestFile, side: "inputs" | "outputs", wanted: readonly string[]): void {
  const have = new Set((file.onnx?.[side] ?? []).map((value) => value.name));
  const missing = wanted.filter((name) => !have.has(name));
  if (missing.length > 0) {
    throw new FolderError(
      `${file.path} has no ${side.slice(0, -1)} ${missing.join(", ")} (it has: ${[...have].join(", ")}).`,
    );
  }
}

function inputsMatching(file: ManifestFile, pattern: RegExp): TensorInfo[] {
  return (file.onnx?.inputs ?? []).filter((input) => pattern.test(input.name));
}

function names(files: readonly ManifestFile[]): string {
  return files.length === 0 ? "no ONNX file" : files.map((file) => file.path).join(", ");
}

/** genai_config.json's decoder names, each as the engine feeds or reads it (Optimum's names). */
const GENAI_NAMES: Record<"inputs" | "outputs", Record<string, string>> = {
  inputs: {
    input_ids: "input_ids",
    attention_mask: "attention_mask",
    position_ids: "position_ids",
    past_key_names: "past_key_values.%d.key",
    past_value_names: "past_key_values.%d.value",
  },
  outputs: {
    logits: "logits",
    present_key_names: "present.%d.key",
    present_value_names: "present.%d.value",
  },
};

/**
 * Refuses an onnxruntime-genai decoder whose inputs or outputs the engine would not feed or read:
 * other names than Optimum's, or inputs genai fills in itself (`past_sequence_length`,
 * `cache_indirection`, `inputs_embeds`, ...).
 */
export function checkGenaiNames(genai: GenaiConfig): void {
  for (const side of ["inputs", "outputs"] as const) {
    const known = GENAI_NAMES[side];
    for (const [key, name] of Object.entries(genai.model?.decoder?.[side] ?? {})) {
      const wanted = known[key];
      if (wanted === undefined) {
        throw new FolderError(
          `genai_config.json: the decoder's ${side.slice(0, -1)} ${key} ("${name}") is not one the engine feeds or reads (${Object.keys(known).join(", ")}).`,
        );
      }
      if (name !== wanted) {
        throw new FolderError(
          `genai_config.json: model.decoder.${side}.${key} is "${name}"; the engine ${side === "inputs" ? "feeds" : "reads"} "${wanted}".`,
        );
      }
    }
  }
}
