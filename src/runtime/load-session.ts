import type { InferenceSession } from "onnxruntime-web/wasm";
import type { HeapBlock, OrtRuntime } from "./ort.js";

export type ModelFormat = "onnx" | "ort";

export interface CreatedSession {
  session: InferenceSession;
  /** Growth of ORT's wasm memory while the session was created: what it costs the isolate. */
  grownBytes: number;
  /** Releases the session, then the heap block its weights live in (if any). Call it once. */
  release(): Promise<void>;
}

/**
 * Creates a session the way the worker does; `models:push` measures memory through the same
 * function, so the manifest's cost is the cost of what the worker loads.
 *
 * An `.onnx` file is copied into ORT's heap and parsed into separate initializers (about twice
 * its size). An ORT-format file is placed in ORT's heap once and its initializers are used where
 * they lie (about its size). Nothing here keeps a reference to `bytes` once this returns, so the
 * caller's JS copy is garbage as soon as the caller drops it.
 */
export async function createSession(
  runtime: OrtRuntime,
  bytes: Uint8Array,
  format: ModelFormat,
): Promise<CreatedSession> {
  const { ort, heap } = runtime;
  const before = runtime.wasmMemoryBytes();
  const measured = (session: InferenceSession, release: () => Promise<void>): CreatedSession => ({
    session,
    grownBytes: runtime.wasmMemoryBytes() - before,
    release,
  });
  if (format === "onnx") {
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    return measured(session, () => session.release());
  }
  if (!heap) {
    // onnxruntime-web frees its copy of the bytes after creating the session, so without a
    // block of our own the initializers must not point into them.
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    return measured(session, () => session.release());
  }
  return createSessionInPlace(runtime, bytes.byteLength, async (block) => block.view.set(bytes));
}

/**
 * Creates a session from an ORT-format file that `fill` writes into a block of ORT's heap of
 * `size` bytes, so the file never needs a copy in JS (the registry streams it from the store).
 * `fill` must reject unless the block holds exactly the verified file. The block belongs to this
 * function until it returns: it is freed if `fill` or ORT fails, else by the session's release.
 * Needs `runtime.heap`.
 */
export async function createSessionInPlace(
  runtime: OrtRuntime,
  size: number,
  fill: (block: HeapBlock) => Promise<void>,
): Promise<CreatedSession> {
  const { ort, heap } = runtime;
  if (!heap) throw new Error("this onnxruntime-web build has no heap to place a model in");
  const before = runtime.wasmMemoryBytes();
  const block = heap.allocate(size);
  let session: InferenceSession;
  try {
    await fill(block);
    session = await ort.InferenceSession.create(block.view, {
      executionProviders: ["wasm"],
      extra: {
        session: { use_ort_model_bytes_directly: "1", use_ort_model_bytes_for_initializers: "1" },
      },
    });
  } catch (error) {
    block.free();
    throw error;
  }
  if (!block.adopted) {
    // ORT copied the view instead of using it, and that copy is already freed: the session's
    // weights would be overwritten by the next allocation.
    await session.release().finally(() => block.free());
    throw new Error("onnxruntime-web copied an ORT-format model instead of using it in place");
  }
  return {
    session,
    grownBytes: runtime.wasmMemoryBytes() - before,
    release: () => session.release().finally(() => block.free()),
  };
}
