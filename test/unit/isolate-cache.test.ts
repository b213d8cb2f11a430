import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ApiError } from "../../src/errors.js";
import { IsolateCache, withLease } from "../../src/runtime/isolate-cache.js";
import { LeaseGroup } from "../../src/runtime/lease-group.js";

/** A loader whose completion the test controls, counting how often it ran. */
function controlledLoader<T>(value: T, cost?: number) {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const gate = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const loader = {
    runs: 0,
    disposed: 0,
    resolve,
    reject,
    request: (key: string, estimatedCost = 10) => ({
      key,
      estimatedCost,
      load: async () => {
        loader.runs += 1;
        await gate;
        return { value, measuredCost: cost };
      },
      dispose: () => {
        loader.disposed += 1;
      },
    }),
  };
  return loader;
}

/** A loader that completes at once, with `cost` as its estimate. */
const ready = <T>(value: T, cost = 10) => {
  const loader = controlledLoader(value);
  loader.resolve();
  const request = loader.request;
  loader.request = (key: string, estimatedCost = cost) => request(key, estimatedCost);
  return loader;
};

const inUse = (cache: IsolateCache, key: string) => cache.stats().entries.find((e) => e.key === key)?.in_use;

describe("isolate cache", () => {
  test("concurrent requests for one key share one load", async () => {
    const cache = new IsolateCache(100);
    const loader = controlledLoader("model");
    const leases = Promise.all([1, 2, 3].map(() => cache.acquire(loader.request("a"))));
    loader.resolve();
    const [first, second, third] = await leases;
    assert.equal(loader.runs, 1);
    assert.deepEqual([first?.hit, second?.hit, third?.hit], [false, true, true]);
    assert.equal(inUse(cache, "a"), 3);
    for (const lease of [first, second, third]) lease?.release();
    assert.equal(inUse(cache, "a"), 0);
  });

  test("a failed load is not cached and every waiter sees the error", async () => {
    const cache = new IsolateCache(100);
    const loader = controlledLoader("model");
    const waiting = Promise.allSettled([
      cache.acquire(loader.request("a")),
      cache.acquire(loader.request("a")),
    ]);
    loader.reject(new Error("store down"));
    const outcomes = await waiting;
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["rejected", "rejected"],
    );
    assert.equal(cache.has("a"), false);
    const retry = await cache.acquire(ready("model").request("a"));
    assert.equal(retry.hit, false);
    retry.release();
  });

  test("the measured cost replaces a lower estimate", async () => {
    const cache = new IsolateCache(100);
    const loader = controlledLoader("model", 40);
    loader.resolve();
    (await cache.acquire(loader.request("a", 10))).release();
    assert.equal(cache.stats().used_bytes, 40);
  });

  test("something larger than the budget is refused before its loader runs", async () => {
    const cache = new IsolateCache(100);
    const loader = ready("huge", 101);
    await assert.rejects(cache.acquire(loader.request("huge")), (error: ApiError) => {
      assert.equal(error.code, "model_too_large");
      return true;
    });
    assert.equal(loader.runs, 0);
  });

  test("idle entries are evicted least recently used first; entries in use are never evicted", async () => {
    const cache = new IsolateCache(100);
    const a = ready("a", 40);
    const b = ready("b", 40);
    (await cache.acquire(a.request("a"))).release();
    const holdB = await cache.acquire(b.request("b"));
    (await cache.acquire(ready("c", 40).request("c"))).release();
    assert.equal(a.disposed, 1, "a was the least recently used idle entry");
    assert.equal(cache.has("b"), true);
    await assert.rejects(cache.acquire(ready("d", 90).request("d")), (error: ApiError) => {
      assert.equal(error.code, "memory_busy");
      return true;
    });
    holdB.release();
    (await cache.acquire(ready("d", 90).request("d"))).release();
    assert.equal(b.disposed, 1);
  });

  test("reserved bytes (a batch's KV cache) count against the budget and evict idle entries", async () => {
    const cache = new IsolateCache(100);
    const a = ready("a", 40);
    (await cache.acquire(a.request("a"))).release();
    const holdB = await cache.acquire(ready("b", 40).request("b"));
    assert.equal(cache.reserve(50), true, "idle a makes room");
    assert.equal(a.disposed, 1);
    assert.equal(cache.stats().used_bytes, 90);
    assert.equal(cache.stats().reserved_bytes, 50);
    assert.equal(cache.reserve(20), false, "b is in use: nothing more fits");
    assert.equal(cache.stats().reserved_bytes, 50, "a refused reservation takes nothing");
    await assert.rejects(cache.acquire(ready("c", 20).request("c")), (error: ApiError) => {
      assert.equal(error.code, "memory_busy");
      return true;
    });
    cache.unreserve(50);
    assert.equal(cache.stats().used_bytes, 40);
    (await cache.acquire(ready("c", 20).request("c"))).release();
    holdB.release();
  });

  test("a reservation that may not evict takes only the budget no entry holds", async () => {
    const cache = new IsolateCache(100);
    const a = ready("a", 40);
    (await cache.acquire(a.request("a"))).release();
    assert.equal(cache.reserve(70, false), false, "idle a is not evicted for it");
    assert.equal(a.disposed, 0);
    assert.equal(cache.stats().reserved_bytes, 0, "a refused reservation takes nothing");
    assert.equal(cache.reserve(60, false), true, "the free budget is enough");
    assert.equal(cache.stats().used_bytes, 100);
    assert.equal(cache.has("a"), true);
    cache.unreserve(60);
  });

  test("releasing a lease twice counts once", async () => {
    const cache = new IsolateCache(100);
    const lease = await cache.acquire(ready("a").request("a"));
    const other = await cache.acquire(ready("a").request("a"));
    lease.release();
    lease.release();
    assert.equal(inUse(cache, "a"), 1);
    other.release();
  });

  test("withLease releases as soon as the request's signal aborts, even while the use still runs", async () => {
    const cache = new IsolateCache(100);
    const abort = new AbortController();
    let finishUse!: () => void;
    const using = withLease(
      cache.acquire(ready("a").request("a")),
      () => new Promise<void>((resolve) => (finishUse = resolve)),
      abort.signal,
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(inUse(cache, "a"), 1);
    abort.abort();
    assert.equal(inUse(cache, "a"), 0, "released on abort, before the use ends");
    finishUse();
    await using;
    assert.equal(inUse(cache, "a"), 0, "and not released twice");
  });

  test("withLease releases when the use throws", async () => {
    const cache = new IsolateCache(100);
    await assert.rejects(
      withLease(cache.acquire(ready("a").request("a")), async () => {
        throw new Error("inference failed");
      }),
    );
    assert.equal(inUse(cache, "a"), 0);
  });
});

describe("lease group", () => {
  test("a failing open releases every lease it took, including one still loading", async () => {
    const cache = new IsolateCache(100);
    const slow = controlledLoader("session");
    const opening = LeaseGroup.open(async (group) => {
      await group.take(cache.acquire(ready("assets").request("assets")));
      void group.take(cache.acquire(slow.request("session"))).catch(() => undefined);
      throw new ApiError(502, "unreadable cache shape", "bad_model");
    });
    const failed = assert.rejects(opening, /unreadable cache shape/);
    slow.resolve();
    await failed;
    assert.equal(inUse(cache, "assets"), 0);
    assert.equal(inUse(cache, "session"), 0);
  });

  test("a successful open holds its leases until released once", async () => {
    const cache = new IsolateCache(100);
    const lease = await LeaseGroup.open(async (group) => {
      const assets = await group.take(cache.acquire(ready("assets").request("assets")));
      const session = await group.take(cache.acquire(ready("session").request("session")));
      return `${assets}+${session}`;
    });
    assert.equal(lease.value, "assets+session");
    assert.equal(lease.hit, false);
    assert.equal(inUse(cache, "session"), 1);
    lease.release();
    lease.release();
    assert.equal(inUse(cache, "assets"), 0);
    assert.equal(inUse(cache, "session"), 0);
  });
});
