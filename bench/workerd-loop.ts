import { startOrtInWorkerd } from "../src/runtime/ort-workerd.js";
import { ModelRegistry } from "../src/runtime/registry.js";
import type { ObjectStore } from "../src/runtime/store.js";
import { openGenerator } from "../src/tasks/text-generation.js";
import { bareLoop } from "./bare-loop.js";

/**
 * A worker that runs only the bare decode loop (bench/bare-loop.ts) on a model in its R2 bucket, so
 * the same loop can be timed in workerd and in Node: `GET /?model=&dtype=&prompt=1,2,3&steps=N`
 * runs the prompt and N - 1 cached steps, `&pause=1` yields to I/O between steps as the worker
 * does. workerd's clock stands still while code runs, so the client does the timing; the answer is
 * the last token, to check the loop computed what Node's did.
 */
let registry: ModelRegistry | undefined;

export default {
  async fetch(request: Request, env: { MODELS: ObjectStore }): Promise<Response> {
    const query = new URL(request.url).searchParams;
    registry ??= new ModelRegistry({
      store: env.MODELS,
      startOrt: startOrtInWorkerd,
      budgetBytes: 1024 * 1024 * 1024,
      runAllowanceBytes: 64 * 1024 * 1024,
      batching: false,
      manifestTtlMs: 60_000,
    });
    const runtime = await registry.runtime();
    const manifest = await registry.manifest(query.get("model") ?? "");
    const lease = await openGenerator(registry, manifest, query.get("dtype") ?? "int8");
    try {
      const prompt = (query.get("prompt") ?? "").split(",").map(Number);
      const pause = query.get("pause") === "1" ? () => runtime.yieldTurn() : undefined;
      const { last } = await bareLoop(lease.value.lm, prompt, Number(query.get("steps")), pause);
      return new Response(String(last));
    } finally {
      lease.release();
    }
  },
};
