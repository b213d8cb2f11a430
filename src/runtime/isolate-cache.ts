import { ApiError } from "../errors.js";

/**
 * The deliberate per-isolate state: loaded things kept between requests, under a memory budget.
 *
 * - One load in flight per key, however many requests ask at once.
 * - A failed load is never cached: the next request tries again.
 * - Costs are reserved before loading, so concurrent loads cannot overshoot the budget together,
 *   and least recently used entries that nobody is using are evicted to make room.
 * - Something that can never fit is refused before its loader runs (before any bytes are read).
 */
export interface Loaded<T> {
  value: T;
  /** The cost measured while loading, when it differs from the estimate. */
  measuredCost?: number;
}

export interface CacheRequest<T> {
  key: string;
  estimatedCost: number;
  load: () => Promise<Loaded<T>>;
  dispose: (value: T) => void | Promise<void>;
}

export interface Lease<T> {
  value: T;
  /** Whether this request found the value already loaded (or loading). */
  hit: boolean;
  release(): void;
}

interface Entry {
  key: string;
  cost: number;
  users: number;
  lastUsed: number;
  ready: Promise<unknown>;
  loaded: boolean;
  loadedAt?: string;
  loadMs?: number;
  value?: unknown;
  dispose: () => void | Promise<void>;
}

export interface CacheStats {
  budget_bytes: number;
  used_bytes: number;
  /**
   * Of `used_bytes`, what running work holds beside the models: decoder batches' KV caches and the
   * run memory a batch takes beyond RUN_MEMORY_MB while it runs (per session in `/v1/stats`).
   */
  reserved_bytes: number;
  hits: number;
  misses: number;
  evictions: number;
  entries: { key: string; cost_bytes: number; loaded_at?: string; load_ms?: number; in_use: number }[];
}

export class IsolateCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private reserved = 0;

  constructor(readonly budgetBytes: number) {}

  /**
   * Takes bytes for something that is not a cached entry but lives beside them for a while (a
   * decoder batch's KV cache, kept in JS between steps), evicting idle entries to make room.
   * Takes nothing and answers false when the entries in use leave no room for it. With `evict`
   * false only the budget no entry holds is taken: for bytes that merely make running work faster
   * (a batch's run memory beyond RUN_MEMORY_MB), which are not worth reloading a model later.
   */
  reserve(bytes: number, evict = true): boolean {
    const idle = [...this.entries.values()]
      .filter((entry) => evict && entry.loaded && entry.users === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    const idleBytes = idle.reduce((sum, entry) => sum + entry.cost, 0);
    if (this.usedBytes() - idleBytes + bytes > this.budgetBytes) return false;
    this.evictUntil(idle, bytes, "");
    this.reserved += bytes;
    return true;
  }

  unreserve(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

  async acquire<T>(request: CacheRequest<T>): Promise<Lease<T>> {
    const existing = this.entries.get(request.key);
    if (existing) {
      this.hits += 1;
      existing.users += 1;
      existing.lastUsed = ++this.clock;
      try {
        const value = (await existing.ready) as T;
        return this.lease(existing, value, true);
      } catch (error) {
        existing.users -= 1;
        throw error;
      }
    }
    this.misses += 1;
    this.makeRoom(request.key, request.estimatedCost);
    const entry: Entry = {
      key: request.key,
      cost: request.estimatedCost,
      users: 1,
      lastUsed: ++this.clock,
      ready: Promise.resolve(),
      loaded: false,
      dispose: () => undefined,
    };
    const started = Date.now();
    const ready = request.load().then(
      (loaded) => {
        entry.loaded = true;
        entry.cost = Math.max(entry.cost, loaded.measuredCost ?? 0);
        entry.loadMs = Date.now() - started;
        entry.loadedAt = new Date().toISOString();
        entry.value = loaded.value;
        entry.dispose = () => request.dispose(loaded.value);
        return loaded.value;
      },
      (error: unknown) => {
        this.entries.delete(request.key);
        throw error;
      },
    );
    entry.ready = ready;
    this.entries.set(request.key, entry);
    try {
      return this.lease(entry, await ready, false);
    } catch (error) {
      entry.users -= 1;
      throw error;
    }
  }

  /** Refuses, before anything is read, a set of things whose total can never fit. */
  assertCanFit(what: string, cost: number): void {
    if (cost > this.budgetBytes) {
      throw new ApiError(
        400,
        `${what} needs about ${mb(cost)} of memory, more than this isolate's model budget of ${mb(this.budgetBytes)}; it cannot be loaded here.`,
        "model_too_large",
        "model",
      );
    }
  }

  has(key: string): boolean {
    return this.entries.get(key)?.loaded ?? false;
  }

  stats(): CacheStats {
    return {
      budget_bytes: this.budgetBytes,
      used_bytes: this.usedBytes(),
      reserved_bytes: this.reserved,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      entries: [...this.entries.values()]
        .filter((entry) => entry.loaded)
        .map((entry) => ({
          key: entry.key,
          cost_bytes: entry.cost,
          loaded_at: entry.loadedAt,
          load_ms: entry.loadMs,
          in_use: entry.users,
        })),
    };
  }

  /** Loaded values with their keys (for statistics). */
  loaded(): [string, unknown][] {
    return [...this.entries.values()]
      .filter((entry) => entry.loaded)
      .map((entry) => [entry.key, entry.value]);
  }

  private usedBytes(): number {
    let used = this.reserved;
    for (const entry of this.entries.values()) used += entry.cost;
    return used;
  }

  private makeRoom(key: string, cost: number): void {
    this.assertCanFit(key, cost);
    const idle = [...this.entries.values()]
      .filter((entry) => entry.loaded && entry.users === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    this.evictUntil(idle, cost, key);
  }

  /** Evicts the idle entries, least recently used first, until `cost` more bytes fit the budget. */
  private evictUntil(idle: Entry[], cost: number, key: string): void {
    while (this.usedBytes() + cost > this.budgetBytes) {
      const victim = idle.shift();
      if (!victim) {
        throw new ApiError(
          503,
          `Loading ${key} needs ${mb(cost)} but ${mb(this.usedBytes())} of the ${mb(this.budgetBytes)} budget is in use by running requests; retry shortly.`,
          "memory_busy",
        );
      }
      this.entries.delete(victim.key);
      this.evictions += 1;
      void victim.dispose();
    }
  }

  private lease<T>(entry: Entry, value: T, hit: boolean): Lease<T> {
    let released = false;
    return {
      value,
      hit,
      release: () => {
        if (released) return;
        released = true;
        entry.users -= 1;
        entry.lastUsed = ++this.clock;
      },
    };
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Uses a leased value and releases the lease however `use` ends, or as soon as `signal` aborts:
 * in Workers a cancelled request's pending promises may never settle, so its abort is the last
 * moment anything of it is sure to run.
 */
export async function withLease<T, R>(
  acquiring: Promise<Lease<T>>,
  use: (value: T) => Promise<R>,
  signal?: AbortSignal,
): Promise<R> {
  const lease = await acquiring;
  const release = () => lease.release();
  signal?.addEventListener("abort", release, { once: true });
  try {
    return await use(lease.value);
  } finally {
    signal?.removeEventListener("abort", release);
    lease.release();
  }
}
