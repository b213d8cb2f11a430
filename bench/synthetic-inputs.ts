import { type OipTensor, oipDatatype } from "../src/routes/oip-tensors.js";
import type { TensorInfo } from "../src/runtime/manifest.js";
import type { Ort } from "../src/runtime/ort.js";
import type { Feeds } from "../src/runtime/session.js";

/**
 * Plausible inputs for any ONNX model from its metadata alone: batch 1, sequences of 16, empty
 * caches, a cache branch switched off, ids of ordinary tokens, masks of ones.
 */
function dimension(name: string | number, inputName: string): number {
  if (typeof name === "number") return name;
  if (/batch/.test(name)) return 1;
  if (inputName.startsWith("past_key_values") && /past|decoder/.test(name)) return 0;
  return 16;
}

function value(inputName: string, type: string): number | boolean {
  if (type === "bool") return false;
  if (/mask/.test(inputName)) return 1;
  if (/token_type/.test(inputName)) return 0;
  if (/position/.test(inputName)) return 0;
  if (type.startsWith("int") || type.startsWith("uint")) return 5;
  return 0.5;
}

export function syntheticTensors(inputs: readonly TensorInfo[]): OipTensor[] {
  const encoderLength = 16;
  return inputs.map((info) => {
    let shape = info.shape.map((dim) => dimension(dim, info.name));
    if (info.name === "use_cache_branch") shape = [1];
    if (info.name === "position_ids") {
      const length = shape[1] ?? 1;
      return {
        name: info.name,
        datatype: oipDatatype(info.type) ?? "INT64",
        shape,
        data: Array.from({ length }, (_, i) => i),
      };
    }
    if (info.name === "encoder_hidden_states") shape = [1, encoderLength, shape[2] ?? 1];
    const count = shape.reduce((a, b) => a * b, 1);
    return {
      name: info.name,
      datatype: oipDatatype(info.type) ?? "FP32",
      shape,
      data: new Array(count).fill(value(info.name, info.type)),
    };
  });
}

export function toFeeds(ort: Ort, inputs: readonly TensorInfo[], tensors: OipTensor[]): Feeds {
  const feeds: Feeds = {};
  for (const tensor of tensors) {
    const info = inputs.find((input) => input.name === tensor.name);
    const type = info?.type ?? "float32";
    const data =
      type === "int64"
        ? BigInt64Array.from(tensor.data as number[], BigInt)
        : type === "bool"
          ? Uint8Array.from(tensor.data as boolean[], Number)
          : Float32Array.from(tensor.data as number[]);
    feeds[tensor.name] = new ort.Tensor(type as "float32", data as Float32Array, tensor.shape);
  }
  return feeds;
}
