import type { Lease } from "./isolate-cache.js";

/**
 * The leases one request takes to open a model (tokenizer, one or more sessions), owned as one:
 * if building the model fails at any step, everything taken so far is released, including leases
 * still being acquired when the failure happened.
 */
export class LeaseGroup {
  private readonly pending: Promise<Lease<unknown>>[] = [];

  take<T>(acquiring: Promise<Lease<T>>): Promise<T> {
    this.pending.push(acquiring);
    return acquiring.then((lease) => lease.value);
  }

  /** Runs `build`; its value is leased until the returned lease is released. */
  static async open<T>(build: (group: LeaseGroup) => Promise<T>): Promise<Lease<T>> {
    const group = new LeaseGroup();
    let value: T;
    try {
      value = await build(group);
    } catch (error) {
      await group.releaseAll();
      throw error;
    }
    const leases = await Promise.all(group.pending);
    let released = false;
    return {
      value,
      hit: leases.every((lease) => lease.hit),
      release: () => {
        if (released) return;
        released = true;
        for (const lease of leases) lease.release();
      },
    };
  }

  private async releaseAll(): Promise<void> {
    for (const outcome of await Promise.allSettled(this.pending)) {
      if (outcome.status === "fulfilled") outcome.value.release();
    }
  }
}
