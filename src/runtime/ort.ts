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
  /** Blocks of ORT's heap that stay ours until we free them; undefined for an ORT build we do not know. */
  readonly heap: OrtHeap | undefined;
}

/**
 * A block of ORT's wasm heap holding a model's bytes. ORT can keep using it after session
 * creation (ORT-format initializers read in place); whoever creates the block frees it, once,
 * after the session using it is released.
 */
export interface HeapBlock {
  /** The block's size in bytes. */
  readonly size: number;
  /**
   * The bytes, as a view of ORT's own memory (so ORT takes them without copying). Taken afresh on
   * each read: ORT's memory may have grown since the block was allocated.
   */
  readonly view: Uint8Array;
  /** Whether onnxruntime-web tried to free the block, which it does only when it used it in place. */
  readonly adopted: boolean;
  free(): void;
}

export interface OrtHeap {
  /** A new block of ORT's heap, uninitialised. */
  allocate(size: number): HeapBlock;
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

/**
 * Minified names in the wasm that onnxruntime-web ships, by version (read from its glue code):
 * malloc and free among the exports (`t._free=s.vb, t._malloc=s.wb`), and the glue's
 * `emscripten_resize_heap` among the imports of module "a" (`la:Lb`).
 */
const WASM_NAMES: Record<string, { malloc: string; free: string; resizeHeap: string }> = {
  "1.30.0": { malloc: "wb", free: "vb", resizeHeap: "la" },
};

/** Heap growth is rounded up to this, so a run that allocates step by step does not grow per page. */
const GROWTH_STEP_BYTES = 1 << 20;

async function boot(wasm: WebAssembly.Module, yieldTurn: () => Promise<void>): Promise<OrtRuntime> {
  const placeholder = new ArrayBuffer(8);
  let memory: WebAssembly.Memory | undefined;
  let heap: PinningHeap | undefined;
  const instantiate = WebAssembly.instantiate;

  const patched = (source: unknown, imports?: WebAssembly.Imports): Promise<unknown> => {
    const isPlaceholder =
      source === placeholder || (ArrayBuffer.isView(source) && source.buffer === placeholder);
    if (!isPlaceholder) {
      return (instantiate as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(source, imports);
    }
    memory = findMemory(imports);
    const names = WASM_NAMES[ort.env.versions.web ?? ""];
    const exactImports = names && memory ? growingExactly(imports, names.resizeHeap, memory) : imports;
    return instantiate(wasm, exactImports).then((instance) => {
      memory ??= exportedMemory(instance);
      if (!names || !memory) return { instance, module: wasm };
      heap = new PinningHeap(instance, names, memory);
      return { instance: heap.instance, module: wasm };
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
  return { ort, wasmMemoryBytes: () => observed.buffer.byteLength, yieldTurn, heap: heap?.verified() };
}

/**
 * onnxruntime-web frees the model buffer right after creating a session (`createSession`'s
 * `finally`), even though with `session.use_ort_model_bytes_for_initializers` ORT keeps reading
 * the weights from it: later allocations then overwrite live weights. So the instance handed to
 * ORT's glue gets a `free` that leaves blocks we placed alone; we free them ourselves after the
 * session is released.
 */
class PinningHeap implements OrtHeap {
  readonly instance: WebAssembly.Instance;
  private readonly pinned = new Map<number, { adopted: boolean }>();
  private readonly malloc: (size: number) => number;
  private readonly free: (pointer: number) => void;

  constructor(
    original: WebAssembly.Instance,
    names: { malloc: string; free: string },
    private readonly memory: WebAssembly.Memory,
  ) {
    const exports = original.exports;
    const malloc = exports[names.malloc];
    const free = exports[names.free];
    if (typeof malloc !== "function" || typeof free !== "function") {
      throw new Error("onnxruntime-web's wasm does not export malloc and free where expected");
    }
    this.malloc = (size) => (malloc as (size: number) => number)(size) >>> 0;
    this.free = free as (pointer: number) => void;
    const guardedFree = (pointer: number) => {
      const block = this.pinned.get(pointer >>> 0);
      if (block) block.adopted = true;
      else this.free(pointer);
    };
    this.instance = { exports: { ...exports, [names.free]: guardedFree } };
  }

  /**
   * Checks the export names on the running heap: a freed block is handed out again for the same
   * size. Anything else means the names are wrong, and ORT-format weights are not read in place.
   */
  verified(): OrtHeap | undefined {
    const first = this.malloc(64);
    this.free(first);
    const second = this.malloc(64);
    this.free(second);
    return first !== 0 && first === second ? this : undefined;
  }

  allocate(size: number): HeapBlock {
    const pointer = this.malloc(size);
    if (pointer === 0) throw new Error(`ORT's heap cannot allocate ${size} bytes`);
    const state = { adopted: false };
    this.pinned.set(pointer, state);
    const memory = this.memory;
    let freed = false;
    return {
      size,
      get view() {
        return new Uint8Array(memory.buffer, pointer, size);
      },
      get adopted() {
        return state.adopted;
      },
      free: () => {
        if (freed) return;
        freed = true;
        this.pinned.delete(pointer);
        this.free(pointer);
      },
    };
  }
}

/**
 * Emscripten grows the heap by at least a fifth of its size whenever an allocation does not fit:
 * near a 60 MB model that is 12-16 MB of the isolate's 128 MB that nothing asked for, and wasm
 * memory never shrinks. These imports grow it to what was asked for (rounded up to a step), then
 * let the glue's own resize see a heap that is already large enough, which is how its views of
 * the memory are refreshed. Imports that do not look like that glue are left alone.
 */
function growingExactly(
  imports: WebAssembly.Imports | undefined,
  name: string,
  memory: WebAssembly.Memory,
): WebAssembly.Imports | undefined {
  const glue = imports?.a;
  const resize = glue?.[name];
  if (!glue || typeof resize !== "function" || !resize.toString().includes(".grow(")) return imports;
  const exact = (requested: number): number => {
    const wanted = Math.ceil((requested >>> 0) / GROWTH_STEP_BYTES) * GROWTH_STEP_BYTES;
    const pages = Math.ceil((wanted - memory.buffer.byteLength) / WASM_PAGE_BYTES);
    if (pages > 0) {
      try {
        memory.grow(pages);
      } catch {
        return 0;
      }
    }
    (resize as (requested: number) => unknown)(requested);
    return 1;
  };
  return { ...imports, a: { ...glue, [name]: exact } };
}

const WASM_PAGE_BYTES = 65536;

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
