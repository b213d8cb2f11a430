import assert from "node:assert/strict";
import { test } from "node:test";
import { Miniflare } from "miniflare";
import { WORKERD_WRAPPER } from "../host/paths.js";

/** What `typeof gc` is inside a worker started through host/workerd.sh with these V8 flags. */
async function gcInWorker(flags: string | undefined): Promise<string> {
  const saved = { path: process.env.MINIFLARE_WORKERD_PATH, flags: process.env.WORKERD_V8_FLAGS };
  process.env.MINIFLARE_WORKERD_PATH = WORKERD_WRAPPER;
  if (flags === undefined) delete process.env.WORKERD_V8_FLAGS;
  else process.env.WORKERD_V8_FLAGS = flags;
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch: () => new Response(typeof globalThis.gc) };",
    compatibilityDate: "2026-04-26",
  });
  try {
    return await (await mf.dispatchFetch("http://localhost/")).text();
  } finally {
    await mf.dispose();
    for (const [name, value] of [
      ["MINIFLARE_WORKERD_PATH", saved.path],
      ["WORKERD_V8_FLAGS", saved.flags],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

test("host/workerd.sh passes V8 flags to workerd through Miniflare's config", async () => {
  assert.equal(await gcInWorker("--expose-gc"), "function", "--expose-gc reached V8");
  assert.equal(await gcInWorker("--expose-gc --single-threaded"), "function", "several flags");
  assert.equal(
    await gcInWorker(undefined),
    "undefined",
    "the default flags start workerd and expose nothing",
  );
});
