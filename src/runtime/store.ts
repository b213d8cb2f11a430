/**
 * The part of an R2 bucket the engine uses. R2Bucket satisfies it as is; under Node a folder
 * on disk does (see `test/helpers` and `bench/`), which keeps the engine runtime-agnostic.
 */
export interface ObjectStore {
  get(key: string): Promise<StoredObject | null>;
  list(options: ListOptions): Promise<ListResult>;
}

export interface StoredObject {
  readonly size: number;
  /** The bytes as they arrive, so a large file can be placed without a whole copy in JS. Read once. */
  readonly body: ReadableStream<Uint8Array>;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  cursor?: string;
}

export interface ListResult {
  objects: { key: string; size: number }[];
  delimitedPrefixes: string[];
  truncated: boolean;
  cursor?: string;
}

/** Counts reads per key, so `/v1/stats` (and the tests) can see that a model is read once. */
export class CountingStore implements ObjectStore {
  readonly reads = new Map<string, number>();
  bytesRead = 0;

  constructor(private readonly inner: ObjectStore) {}

  async get(key: string): Promise<StoredObject | null> {
    this.reads.set(key, (this.reads.get(key) ?? 0) + 1);
    const object = await this.inner.get(key);
    if (object) this.bytesRead += object.size;
    return object;
  }

  list(options: ListOptions): Promise<ListResult> {
    return this.inner.list(options);
  }
}
