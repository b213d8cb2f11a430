import * as ort from "onnxruntime-web/wasm";

export type Ort = typeof ort;

/** onnxruntime-web, started once per isolate (or Node process), with its wasm memory observable. */
export interface OrtRuntime {
  readonly ort: Ort;
  /** Bytes of ORT's WebAssembly memory. It grows with loaded models and never shrinks. */
  wasmMemoryBytes(): number;
  /**
   * Lets pending I/O run (other requests, a client's disconnect). ORT's WASM runs on the isolate's
   * only thread and resolves through microtasks, so without a macrotask between steps, one
   * generation would hold the event loop until it ends.
   */
  yieldTurn(): Promise<void>;
}

let started: Promise<OrtRuntime> | undefined;

/**
 * Starts onnxruntime-web from an already compiled wasm module.
 *
 * Workers refuse to compile wasm from bytes at run time, and ORT only accepts bytes
 * (`env.wasm.wasmBinary`). So ORT gets a placeholder buffer, and `WebAssembly.instantiate`
 * answers exactly that placeholder with the precompiled module. The same path runs in Node,
 * so the engine behaves identically in both places.
 */
export function startOrt(wasm: WebAssembly.Module, yieldTurn: () => Promise<void>): Promise<OrtRuntime> {
  started ??= boot(wasm, yieldTurn).catch((error: unknown) => {
    started = undefined;
    throw error;
  });
  return started;
}

async function boot(wasm: WebAssembly.Module, yieldTurn: () => Promise<void>): Promise<OrtRuntime> {
  const placeholder = new ArrayBuffer(8);
  let memory: WebAssembly.Memory | undefined;
  const instantiate = WebAssembly.instantiate;

  const patched = (source: unknown, imports?: WebAssembly.Imports): Promise<unknown> => {
    const isPlaceholder =
      source === placeholder || (ArrayBuffer.isView(source) && source.buffer === placeholder);
    if (!isPlaceholder) {
      return (instantiate as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
    }
    memory = findMemory(imports);
    return instantiate(wasm, imports).then((instance) => {
      memory ??= exportedMemory(instance);
      return { instance, module: wasm };
    });
  };
  WebAssembly.instantiate = patched as typeof WebAssembly.instantiate;

  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = placeholder;
  ort.env.logLevel = "error";
  try {
    // Creating any session forces ORT's lazy initialisation; a tiny in-memory model is cheapest.
    const probe = await ort.InferenceSession.create(IDENTITY_MODEL);
    await probe.release();
  } finally {
    WebAssembly.instantiate = instantiate;
  }
  const observed = memory;
  if (!observed) throw new Error("onnxruntime-web started without a visible WebAssembly.Memory");
  return { ort, wasmMemoryBytes: () => observed.buffer.byteLength, yieldTurn };
}

function findMemory(imports: WebAssembly.Imports | undefined): WebAssembly.Memory | undefined {
  for (const space of Object.values(imports ?? {})) {
    for (const value of Object.values(space)) {
      if (value instanceof WebAssembly.Memory) return value;
    }
  }
  return undefined;
}

function exportedMemory(instance: WebAssembly.Instance): WebAssembly.Memory | undefined {
  return Object.values(instance.exports).find(
    (value): value is WebAssembly.Memory => value instanceof WebAssembly.Memory,
  );
}

/** A one-node ONNX model (Identity on a float[1], opset 13), as onnx.helper serialises it. */
const IDENTITY_MODEL = new Uint8Array([
  0x08, 0x07, 0x3a, 0x37, 0x0a, 0x10, 0x0a, 0x01, 0x78, 0x12, 0x01, 0x79, 0x22, 0x08, 0x49, 0x64, 0x65, 0x6e,
  0x74, 0x69, 0x74, 0x79, 0x12, 0x01, 0x67, 0x5a, 0x0f, 0x0a, 0x01, 0x78, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x01,
  0x12, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x62, 0x0f, 0x0a, 0x01, 0x79, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x01, 0x12,
  0x04, 0x0a, 0x02, 0x08, 0x01, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x0d,
]);
