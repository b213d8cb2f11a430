import { pushModel } from "../cli/lib/push.js";
import type { ListableTarget } from "../cli/lib/targets.js";
import type { ListOptions, ListResult, ObjectStore, StoredObject } from "../src/runtime/store.js";

/**
 * An in-memory bucket for running the engine under plain Node (tests of the engine, benchmarks).
 * Models get into it through the same `pushModel` as into R2, manifests and all.
 */
export class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>();
  private readonly uploaded = new Map<string, Date>();

  async get(key: string): Promise<StoredObject | null> {
    const bytes = this.objects.get(key);
    if (!bytes) return null;
    return {
      size: bytes.byteLength,
      get body() {
        return chunked(bytes);
      },
      arrayBuffer: async () => bytes.slice().buffer,
      text: async () => new TextDecoder().decode(bytes),
    };
  }

  async list(options: ListOptions): Promise<ListResult> {
    const prefix = options.prefix ?? "";
    const keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
    const delimitedPrefixes = new Set<string>();
    const objects: ListResult["objects"] = [];
    for (const key of keys) {
      const rest = key.slice(prefix.length);
      const cut = options.delimiter ? rest.indexOf(options.delimiter) : -1;
      if (cut >= 0) delimitedPrefixes.add(prefix + rest.slice(0, cut + 1));
      else objects.push({ key, size: this.objects.get(key)?.byteLength ?? 0 });
    }
    return { objects, delimitedPrefixes: [...delimitedPrefixes], truncated: false };
  }

  target(): ListableTarget {
    return {
      description: "memory",
      get: async (key) => this.objects.get(key) ?? null,
      put: async (key, bytes) => {
        this.objects.set(key, bytes.slice());
        this.uploaded.set(key, new Date());
      },
      delete: async (key) => {
        this.objects.delete(key);
        this.uploaded.delete(key);
      },
      list: async (prefix) =>
        (await this.list({ prefix })).objects.map((object) => ({
          ...object,
          uploaded: this.uploaded.get(object.key) ?? new Date(0),
        })),
      close: async () => undefined,
    };
  }

  async push(folder: string, id: string): Promise<void> {
    await pushModel(this.target(), { folder, id, quiet: true });
  }
}

/** The size of the chunks R2's bodies deliver in workerd. */
const CHUNK_BYTES = 64 * 1024;

/**
 * What R2 hands out: a byte stream, read into the reader's own buffer when it brings one (BYOB),
 * else in chunks that are fresh buffers.
 */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      const request = controller.byobRequest;
      const into = request?.view;
      if (request && into) {
        const length = Math.min(into.byteLength, bytes.byteLength - offset);
        new Uint8Array(into.buffer, into.byteOffset, length).set(bytes.subarray(offset, offset + length));
        request.respond(length);
        offset += length;
      } else {
        controller.enqueue(bytes.slice(offset, offset + CHUNK_BYTES));
        offset += CHUNK_BYTES;
      }
    },
  });
}
