import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError, invalidParam } from "../errors.js";
import type { TensorInfo } from "../runtime/manifest.js";
import {
  type Feeds,
  ModelRunError,
  type ModelSession,
  type Outputs,
  ortMessage,
} from "../runtime/session.js";
import { fromHalfBits, toHalfBits } from "../tasks/tensors.js";

/**
 * The Open Inference Protocol (KServe v2) tensor API over any ONNX model: named JSON tensors
 * in, named JSON tensors out, checked against the model's own input metadata before running.
 */
export const OIP_DATATYPES = {
  BOOL: "bool",
  UINT8: "uint8",
  UINT16: "uint16",
  UINT32: "uint32",
  UINT64: "uint64",
  INT8: "int8",
  INT16: "int16",
  INT32: "int32",
  INT64: "int64",
  FP16: "float16",
  FP32: "float32",
  FP64: "float64",
  BYTES: "string",
} as const;
export type OipDatatype = keyof typeof OIP_DATATYPES;

export interface OipTensor {
  name: string;
  datatype: OipDatatype;
  shape: number[];
  data: unknown[];
}

/** Largest tensor accepted from a client, in elements: far above any real input of these models. */
export const MAX_TENSOR_ELEMENTS = 1 << 22;

const INTEGER_RANGES: Record<string, [number, number]> = {
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

export function oipDatatype(ortType: string): OipDatatype | undefined {
  return (Object.keys(OIP_DATATYPES) as OipDatatype[]).find((key) => OIP_DATATYPES[key] === ortType);
}

/** OIP metadata shape: symbolic dimensions are -1. */
export function oipShape(info: TensorInfo): number[] {
  return info.shape.map((dim) => (typeof dim === "number" ? dim : -1));
}

export function describeTensors(infos: readonly TensorInfo[]) {
  return infos.map((info) => ({
    name: info.name,
    datatype: oipDatatype(info.type) ?? info.type,
    shape: oipShape(info),
  }));
}

/** Validates client tensors against the model's inputs and builds ORT feeds. */
export function buildFeeds(session: ModelSession, inputs: OipTensor[]): Feeds {
  const feeds: Feeds = {};
  inputs.forEach((input, index) => {
    const param = `inputs[${index}]`;
    const info = session.input(input.name);
    if (!info) {
      throw invalidParam(
        `${param}.name`,
        `The model has no input '${input.name}'. Its inputs are: ${session.inputs.map((i) => i.name).join(", ")}.`,
        "unknown_input",
      );
    }
    if (feeds[input.name]) {
      throw invalidParam(`${param}.name`, `The input '${input.name}' is given twice.`, "duplicate_input");
    }
    const expectedType = oipDatatype(info.type);
    if (input.datatype !== expectedType) {
      throw invalidParam(
        `${param}.datatype`,
        `The input '${input.name}' has datatype ${expectedType ?? info.type}, not ${input.datatype}.`,
        "wrong_datatype",
      );
    }
    checkShape(input, info, `${param}.shape`);
    const flat = flatten(input.data, `${param}.data`);
    const elements = input.shape.reduce((product, dim) => product * dim, 1);
    if (flat.length !== elements) {
      throw invalidParam(
        `${param}.data`,
        `The input '${input.name}' has shape [${input.shape.join(", ")}], which holds ${elements} elements, but data has ${flat.length}.`,
        "data_length_mismatch",
      );
    }
    feeds[input.name] = new session.ort.Tensor(
      info.type as never,
      toTyped(flat, info.type, `${param}.data`) as never,
      input.shape,
    );
  });
  const missing = session.inputs.filter((info) => !feeds[info.name]).map((info) => info.name);
  if (missing.length > 0) {
    throw invalidParam("inputs", `Missing model inputs: ${missing.join(", ")}.`, "missing_input");
  }
  return feeds;
}

export function checkOutputNames(session: ModelSession, names: string[]): void {
  names.forEach((name, index) => {
    if (!session.hasOutput(name)) {
      throw invalidParam(
        `outputs[${index}].name`,
        `The model has no output '${name}'. Its outputs are: ${session.outputs.map((o) => o.name).join(", ")}.`,
        "unknown_output",
      );
    }
  });
}

export function toOipOutputs(outputs: Outputs): OipTensor[] {
  return Object.entries(outputs).map(([name, tensor]) => ({
    name,
    datatype: oipDatatype(tensor.type) ?? ("BYTES" as const),
    shape: [...tensor.dims],
    data: fromTyped(tensor),
  }));
}

/** ORT's errors for inputs that pass the metadata checks (mismatched dims between inputs, ...). */
export function rejectedByModel(error: unknown): ApiError {
  const cause = error instanceof ModelRunError ? error.cause : error;
  return new ApiError(
    400,
    `The model rejected the inputs: ${ortMessage(cause)}`,
    "inference_failed",
    "inputs",
  );
}

function checkShape(input: OipTensor, info: TensorInfo, param: string): void {
  if (info.shape.length > 0 && input.shape.length !== info.shape.length) {
    throw invalidParam(
      param,
      `The input '${input.name}' has ${info.shape.length} dimensions [${oipShape(info).join(", ")}], not ${input.shape.length}.`,
      "wrong_shape",
    );
  }
  input.shape.forEach((dim, axis) => {
    const expected = info.shape[axis];
    if (typeof expected === "number" && expected >= 0 && dim !== expected) {
      throw invalidParam(
        param,
        `Dimension ${axis} of '${input.name}' must be ${expected}, not ${dim}.`,
        "wrong_shape",
      );
    }
  });
  const elements = input.shape.reduce((product, dim) => product * dim, 1);
  if (elements > MAX_TENSOR_ELEMENTS) {
    throw invalidParam(
      param,
      `The input '${input.name}' has ${elements} elements; the limit is ${MAX_TENSOR_ELEMENTS}.`,
      "tensor_too_large",
    );
  }
}

/** OIP allows data flat or nested in row-major order; both flatten to the same sequence. */
function flatten(data: unknown[], param: string): unknown[] {
  const flat: unknown[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (depth > 32) throw invalidParam(param, "The data is nested too deeply.", "invalid_data");
    if (Array.isArray(value)) {
      for (const item of value) visit(item, depth + 1);
    } else {
      flat.push(value);
    }
  };
  visit(data, 0);
  return flat;
}

function toTyped(values: unknown[], type: string, param: string): Tensor["data"] {
  const bad = (index: number, what: string) =>
    invalidParam(
      param,
      `Element ${index} of data must be ${what}, not ${JSON.stringify(values[index])}.`,
      "invalid_data",
    );
  switch (type) {
    case "bool":
      return Uint8Array.from(values, (value, index) => {
        if (typeof value !== "boolean") throw bad(index, "a boolean");
        return value ? 1 : 0;
      });
    case "string":
      return values.map((value, index) => {
        if (typeof value !== "string") throw bad(index, "a string");
        return value;
      });
    case "float32":
    case "float64":
    case "float16": {
      const numbers = values.map((value, index) => {
        if (typeof value !== "number") throw bad(index, "a number");
        return value;
      });
      if (type === "float32") return Float32Array.from(numbers);
      if (type === "float64") return Float64Array.from(numbers);
      return Uint16Array.from(numbers, toHalfBits);
    }
    default: {
      const range = INTEGER_RANGES[type];
      if (!range)
        throw invalidParam(param, `Inputs of type ${type} are not supported.`, "unsupported_datatype");
      const [low, high] = range;
      const integers = values.map((value, index) => {
        if (typeof value !== "number" || !Number.isInteger(value) || value < low || value > high) {
          throw bad(index, `an integer from ${low} to ${high}`);
        }
        return value;
      });
      switch (type) {
        case "int64":
          return BigInt64Array.from(integers, BigInt);
        case "uint64":
          return BigUint64Array.from(integers, BigInt);
        case "int32":
          return Int32Array.from(integers);
        case "uint32":
          return Uint32Array.from(integers);
        case "int16":
          return Int16Array.from(integers);
        case "uint16":
          return Uint16Array.from(integers);
        case "int8":
          return Int8Array.from(integers);
        default:
          return Uint8Array.from(integers);
      }
    }
  }
}

function fromTyped(tensor: Tensor): unknown[] {
  const data = tensor.data;
  if (tensor.type === "float16") return Array.from(data as Uint16Array, fromHalfBits);
  if (tensor.type === "bool") return Array.from(data as Uint8Array, (value) => value !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return Array.from(data as ArrayLike<unknown>);
}
