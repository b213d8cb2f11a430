import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { ApiError, modelNotFound } from "../errors.js";
import { IsolateCache, type Lease } from "./isolate-cache.js";
import { createSession, createSessionInPlace } from "./load-session.js";
import {
  findFile,
  isValidModelId,
  MANIFEST_FILE,
  type Manifest,
  type ManifestFile,
  MODELS_PREFIX,
  manifestSchema,
  modelKey,
  ortFile,
  type StoredFile,
  storeKey,
} from "./manifest.js";
import type { HeapBlock, OrtRuntime } from "./ort.js";
import { ModelSession, ortMessage } from "./session.js";
import { CountingStore, type ObjectStore, type StoredObject } from "./store.js";

export interface RegistryOptions {
  store: ObjectStore;
  startOrt: () => Promise<OrtRuntime>;
  budgetBytes: number;
  /** What one run may add to ORT's memory (see tasks/run-memory.ts). */
  runAllowanceBytes?: number;
  /** Concurrent generations on one model share decode steps (tasks/batcher.ts); default on. */
  batching?: boolean;
  /** How long a manifest read from the store is trusted before it is read again. */
  manifestTtlMs?: number;
}

interface CachedManifest {
  readAt: number;
  manifest: Promise<Manifest>;
}

export const DEFAULT_MANIFEST_TTL_MS = 30_000;

/** Errors of a read that a newer manifest may resolve: the file was replaced or removed. */
const STALE_FILE_CODES = new Set(["checksum_mismatch", "model_file_missing", "model_file_unreadable"]);

/**
 * Models in the store and what this isolate has loaded of them. Sessions are cached under
 * `<id>/<path>@<sha256 of the file loaded>`, so a model pushed again is loaded afresh and the old
 * version simply ages out of the LRU.
 *
 * A file that is missing, unreadable or not what the manifest says makes the registry read the
 * manifest again (once) before failing: a push may have replaced the model since the manifest
 * was cached.
 */
export class ModelRegistry {
  readonly store: CountingStore;
  readonly cache: IsolateCache;
  readonly runAllowanceBytes: number;
  readonly batching: boolean;
  private readonly manifests = new Map<string, CachedManifest>();
  private readonly manifestTtlMs: number;

  constructor(private readonly options: RegistryOptions) {
    this.store = new CountingStore(options.store);
    this.cache = new IsolateCache(options.budgetBytes);
    this.runAllowanceBytes = options.runAllowanceBytes ?? 16 * 1024 * 1024;
    this.batching = options.batching ?? true;
    this.manifestTtlMs = options.manifestTtlMs ?? DEFAULT_MANIFEST_TTL_MS;
  }

  /**
   * Keeps shared work (a model load, a batched step) running if the request that started it ends
   * first: in Workers, a promise's continuations belong to the request that created it, and those
   * of a cancelled request are dropped, which would strand every other request waiting on it. The
   * registry a request sees binds this to its `waitUntil`; the shared one has nothing to extend.
   */
  keepAlive(_work: Promise<unknown>): void {}

  runtime(): Promise<OrtRuntime> {
    return this.options.startOrt();
  }

  /** The manifest of a model, or a 404 (a 400 for an id that is not a valid model id). */
  manifest(id: string): Promise<Manifest> {
    if (!isValidModelId(id)) {
      return Promise.reject(
        new ApiError(
          400,
          `'${truncate(id)}' is not a valid model id: use letters, digits, '.', '_' and '-' (no '/' or '..').`,
          "invalid_model_id",
          "model",
        ),
      );
    }
    const cached = this.manifests.get(id);
    if (cached && Date.now() - cached.readAt < this.manifestTtlMs) return cached.manifest;
    return this.rereadManifest(id);
  }

  async list(): Promise<Manifest[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.list({ prefix: MODELS_PREFIX, delimiter: "/", cursor });
      for (const prefix of page.delimitedPrefixes) {
        const id = prefix.slice(MODELS_PREFIX.length, -1);
        if (isValidModelId(id)) ids.push(id);
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    const manifests = await Promise.all(ids.map((id) => this.manifest(id).catch(() => undefined)));
    return manifests.filter((manifest): manifest is Manifest => manifest !== undefined);
  }

  /** Reads a file of a model and checks it against the manifest's sha256. */
  async readFile(manifest: Manifest, path: string): Promise<Uint8Array> {
    const file = findFile(manifest, path);
    if (!file) {
      throw new ApiError(
        400,
        `The model '${manifest.id}' has no file '${path}'.`,
        "model_file_missing",
        "model",
      );
    }
    return this.withCurrentFile(manifest, file, (current, currentFile) =>
      this.readVerified(current, currentFile),
    );
  }

  async readText(manifest: Manifest, path: string): Promise<string> {
    return new TextDecoder().decode(await this.readFile(manifest, path));
  }

  sessionKey(manifest: Manifest, file: ManifestFile): string {
    const loaded = ortFile(file) ?? file;
    return `${manifest.id}/${file.path}@${loaded.sha256.slice(0, 12)}`;
  }

  isLoaded(manifest: Manifest, file: ManifestFile): boolean {
    return this.cache.has(this.sessionKey(manifest, file));
  }

  /**
   * An ORT session for one ONNX file of a model, loaded once per isolate and leased per request:
   * from its ORT-format copy when the manifest has one, else from the `.onnx` itself.
   */
  session(manifest: Manifest, file: ManifestFile): Promise<Lease<ModelSession>> {
    if (!file.onnx) {
      return Promise.reject(
        new ApiError(400, `'${file.path}' is not an ONNX file.`, "invalid_value", "model"),
      );
    }
    return this.withCurrentFile(manifest, file, (current, currentFile) =>
      this.loadSession(current, currentFile),
    );
  }

  private loadSession(manifest: Manifest, file: ManifestFile): Promise<Lease<ModelSession>> {
    const ort = ortFile(file);
    return this.cache.acquire({
      key: this.sessionKey(manifest, file),
      estimatedCost: file.onnx?.memory_bytes ?? file.size,
      load: async () => {
        const stored = ort ?? file;
        const runtime = await this.runtime();
        const created = await (ort && runtime.heap
          ? createSessionInPlace(runtime, ort.size, (block) => this.streamVerified(manifest, ort, block))
          : this.readVerified(manifest, stored).then((bytes) =>
              createSession(runtime, bytes, ort ? "ort" : "onnx"),
            )
        ).catch((error: unknown) => {
          if (error instanceof ApiError) throw error;
          throw new ApiError(
            502,
            `The file '${stored.path}' of model '${manifest.id}' could not be loaded by onnxruntime: ${ortMessage(error)}`,
            "bad_model",
          );
        });
        return {
          value: new ModelSession(runtime, `${manifest.id}/${file.path}`, created),
          measuredCost: created.grownBytes,
        };
      },
      dispose: (session) => session.release(),
    });
  }

  /**
   * Something built from a model's small files (tokenizer, configs), cached per isolate beside
   * the sessions. Keyed by the push time, so a model pushed again is rebuilt.
   */
  asset<T>(
    manifest: Manifest,
    name: string,
    estimatedCost: number,
    build: () => Promise<T>,
  ): Promise<Lease<T>> {
    return this.cache.acquire({
      key: `${manifest.id}/${name}@${manifest.created_at}`,
      estimatedCost,
      load: async () => ({ value: await build() }),
      dispose: () => undefined,
    });
  }

  /** A JSON file of a model, or undefined when the folder does not have it. */
  async readJson(manifest: Manifest, path: string): Promise<Record<string, unknown> | undefined> {
    if (!findFile(manifest, path)) return undefined;
    try {
      return JSON.parse(await this.readText(manifest, path)) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError(502, `The file '${path}' of model '${manifest.id}' is not valid JSON.`, "bad_model");
    }
  }

  /**
   * Runs `use` on a file of a model; if the file turns out to be stale (replaced, removed or
   * unreadable), reads the manifest again and, when the model has changed, runs `use` once more
   * on the current version of the file.
   */
  private async withCurrentFile<T>(
    manifest: Manifest,
    file: ManifestFile,
    use: (manifest: Manifest, file: ManifestFile) => Promise<T>,
  ): Promise<T> {
    try {
      return await use(manifest, file);
    } catch (error) {
      if (!(error instanceof ApiError) || !STALE_FILE_CODES.has(error.code)) throw error;
      const current = await this.currentManifest(manifest).catch(() => undefined);
      const currentFile = current && findFile(current, file.path);
      if (!current || !currentFile || sameStoredFiles(manifest, file, current, currentFile)) throw error;
      return use(current, currentFile);
    }
  }

  /**
   * The manifest as the store has it now. Concurrent requests that found the same stale file
   * share one read: if the cache already holds a newer read than `stale`, that one is used.
   */
  private async currentManifest(stale: Manifest): Promise<Manifest> {
    const cached = this.manifests.get(stale.id);
    if (cached) {
      const manifest = await cached.manifest.catch(() => undefined);
      if (manifest && manifest !== stale) return manifest;
    }
    return this.rereadManifest(stale.id);
  }

  private rereadManifest(id: string): Promise<Manifest> {
    const manifest = this.readManifest(id);
    const entry = { readAt: Date.now(), manifest };
    this.manifests.set(id, entry);
    manifest.catch(() => {
      if (this.manifests.get(id) === entry) this.manifests.delete(id);
    });
    return manifest;
  }

  private async readManifest(id: string): Promise<Manifest> {
    const object = await this.store.get(modelKey(id, MANIFEST_FILE));
    if (!object) throw modelNotFound(id);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await object.text());
    } catch {
      throw new ApiError(502, `The manifest of '${id}' in the store is not valid JSON.`, "bad_manifest");
    }
    const result = manifestSchema.safeParse(parsed);
    if (!result.success || result.data.id !== id) {
      throw new ApiError(
        502,
        `The manifest of '${id}' in the store is invalid: push the model again.`,
        "bad_manifest",
      );
    }
    return result.data;
  }

  private async readVerified(manifest: Manifest, file: StoredFile): Promise<Uint8Array<ArrayBuffer>> {
    const object = await this.storedObject(manifest, file);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await object.arrayBuffer());
    } catch (error) {
      throw unreadable(manifest, file, error);
    }
    const digest = await sha256Hex(bytes);
    if (bytes.byteLength !== file.size || digest !== file.sha256) {
      throw checksumMismatch(manifest, file, digest, bytes.byteLength);
    }
    return bytes;
  }

  /**
   * Writes a file into a heap block of its manifest size as its chunks arrive, hashing them on the
   * way, so no whole copy of it exists in JS. Bytes past the block's end are hashed and counted but
   * not written, so a longer object is reported like a shorter one.
   */
  private async streamVerified(manifest: Manifest, file: StoredFile, block: HeapBlock): Promise<void> {
    const object = await this.storedObject(manifest, file);
    const hash = sha256.create();
    let received = 0;
    try {
      await readChunks(object.body, (chunk) => {
        hash.update(chunk);
        const room = block.size - received;
        if (room > 0) block.view.set(chunk.byteLength > room ? chunk.subarray(0, room) : chunk, received);
        received += chunk.byteLength;
      });
    } catch (error) {
      throw unreadable(manifest, file, error);
    }
    const digest = bytesToHex(hash.digest());
    if (received !== file.size || digest !== file.sha256) {
      throw checksumMismatch(manifest, file, digest, received);
    }
  }

  private async storedObject(manifest: Manifest, file: StoredFile): Promise<StoredObject> {
    const object = await this.store.get(storeKey(manifest, file));
    if (!object) {
      throw new ApiError(
        502,
        `The file '${file.path}' of model '${manifest.id}' is missing from the store: push the model again.`,
        "model_file_missing",
      );
    }
    return object;
  }
}

/** The buffer a body is read through, reused from chunk to chunk. */
const READ_CHUNK_BYTES = 1 << 20;

/**
 * Hands a body to `use` chunk by chunk. A byte stream is read into one buffer that goes back and
 * forth between reader and stream, so a file of any size costs JS that buffer; other streams hand
 * out a fresh buffer per chunk, garbage until the next collection.
 */
function readChunks(body: ReadableStream<Uint8Array>, use: (chunk: Uint8Array) => void): Promise<void> {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // not a byte stream
    const reader = body.getReader();
    return drain(reader, () => reader.read(), use);
  }
  let buffer = new ArrayBuffer(READ_CHUNK_BYTES);
  return drain(
    byob,
    async () => {
      const result = await byob.read(new Uint8Array(buffer));
      if (result.value) buffer = result.value.buffer;
      return result;
    },
    use,
  );
}

async function drain(
  reader: { cancel(): Promise<void> },
  next: () => Promise<{ done: boolean; value?: Uint8Array | undefined }>,
  use: (chunk: Uint8Array) => void,
): Promise<void> {
  try {
    for (;;) {
      const { done, value } = await next();
      if (done || !value) return;
      use(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    throw error;
  }
}

/** R2 fails the body of a truncated object ("did not see all expected bytes"). */
function unreadable(manifest: Manifest, file: StoredFile, error: unknown): ApiError {
  return new ApiError(
    502,
    `The file '${file.path}' of model '${manifest.id}' could not be read from the store (${error instanceof Error ? error.message : String(error)}): push the model again with \`models:push --force\`.`,
    "model_file_unreadable",
  );
}

function checksumMismatch(manifest: Manifest, file: StoredFile, digest: string, size: number): ApiError {
  return new ApiError(
    502,
    `The file '${file.path}' of model '${manifest.id}' does not match its manifest (expected sha256 ${file.sha256}, ${file.size} bytes; found ${digest}, ${size} bytes): push the model again with \`models:push --force\`.`,
    "checksum_mismatch",
  );
}

/** Whether two manifests store the same bytes for a file (the file and its ORT-format copy). */
function sameStoredFiles(a: Manifest, fileA: ManifestFile, b: Manifest, fileB: ManifestFile): boolean {
  const keys = (manifest: Manifest, file: ManifestFile) =>
    [file, ortFile(file)].map((stored) => (stored ? `${storeKey(manifest, stored)}:${stored.sha256}` : ""));
  return keys(a, fileA).join() === keys(b, fileB).join();
}

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
