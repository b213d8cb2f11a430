import assert from "node:assert/strict";
import { join as joinPath } from "node:path";
import { after, before, describe, test } from "node:test";
import { nodeRegistry } from "../host/engine.js";
import { MODELS_DIR } from "../host/paths.js";
import { loadedKey, startWorker, type TestWorker } from "../host/worker.js";
import type { ApiError } from "../src/errors.js";
import { batcherFor, batchStatsOf, type Stepper } from "../src/tasks/batcher.js";
import { type DecodeOptions, DecodeRun } from "../src/tasks/causal-lm.js";
import { runBytes } from "../src/tasks/run-memory.js";
import { GREEDY } from "../src/tasks/sampling.js";
import {
  MAX_BATCH_QUEUE,
  MAX_BATCH_ROWS,
  openGenerator,
  type TextGenerator,
} from "../src/tasks/text-generation.js";
import { quickStore } from "./helpers/quick-store.js";
import { readRecipeJson } from "./helpers/recipes.js";

interface Golden {
  eos_token_id: number | number[];
  max_new_tokens: number;
  cases: {
    name: string;
    messages: { role: string; content: string }[];
    input_ids: number[];
    fp32: { greedy_ids: number[] };
    int8: { greedy_ids: number[]; greedy_text: string };
  }[];
}

const golden = await readRecipeJson<Golden>("shop-assistant", "golden.json");
const eosIds = new Set([golden.eos_token_id].flat());

function join(generator: TextGenerator, options: Omit<DecodeOptions, "eosIds">): Stepper {
  const batcher = batcherFor(generator.lm, {
    maxRows: MAX_BATCH_ROWS,
    maxQueue: MAX_BATCH_QUEUE,
    cost: generator.runCost,
    allowance: generator.runAllowance,
    memory: generator.memory,
  });
  return batcher.join({ ...options, eosIds });
}

/** A golden case as a greedy generation of the recipe's length. */
function greedyCase(c: Golden["cases"][number]): Omit<DecodeOptions, "eosIds"> {
  return { promptIds: c.input_ids, maxNewTokens: golden.max_new_tokens, n: 1, sampling: GREEDY, seed: 0 };
}

async function drain(stepper: Stepper): Promise<number[][]> {
  try {
    while (!stepper.done) await stepper.step();
    return stepper.generated;
  } finally {
    stepper.close();
  }
}

const registry = nodeRegistry(await quickStore(`${MODELS_DIR}/shop-assistant`, "shop-assistant"));

describe("continuous batching on the bundled chat model", () => {
  for (const dtype of ["int8", "fp32"] as const) {
    test(`${dtype}: concurrent greedy generations each equal the recipe's greedy goldens`, async () => {
      const lease = await openGenerator(registry, await registry.manifest("shop-assistant"), dtype);
      try {
        const cases = [...golden.cases, ...golden.cases.slice(0, 2)];
        const { session } = lease.value.lm;
        const before = { runs: session.runs, ...batchStatsOf(session) };
        const results = await Promise.all(cases.map((c) => drain(join(lease.value, greedyCase(c)))));
        results.forEach((generated, index) => {
          const c = cases[index];
          assert.ok(c);
          assert.deepEqual(generated[0], c[dtype].greedy_ids, `${c.name} in a batch of ${cases.length}`);
        });
        const stats = batchStatsOf(session);
        assert.ok(
          stats && stats.mean_batch_size > 2,
          `rows shared steps (mean batch ${stats?.mean_batch_size})`,
        );
        assert.equal(stats?.active_rows, 0);
        assert.equal(
          stats.prefilled_prompts - (before.prefilled_prompts ?? 0),
          cases.length,
          "every prompt was prefilled",
        );
        const prefillRuns = stats.prefill_runs - (before.prefill_runs ?? 0);
        // The estimated run cost (no measurement in this store) fits a few of these prompts per run.
        assert.ok(prefillRuns < cases.length, `prompts shared prefill runs (${prefillRuns} runs)`);
        assert.equal(
          session.runs - before.runs,
          prefillRuns + stats.steps - (before.steps ?? 0),
          "the session ran the prefills and the decode steps, nothing else",
        );
      } finally {
        lease.release();
      }
    });
  }

  test("a seeded sample is the same alone and beside seven other generations, n: 3 included", async () => {
    const lease = await openGenerator(registry, await registry.manifest("shop-assistant"), "int8");
    try {
      const sampled = {
        promptIds: golden.cases[0]?.input_ids ?? [],
        maxNewTokens: 24,
        n: 3,
        sampling: { ...GREEDY, temperature: 1.8 },
        seed: 1234,
      };
      const alone = await drain(join(lease.value, sampled));
      const others = golden.cases.map((c, index) =>
        drain(
          join(lease.value, {
            promptIds: c.input_ids,
            maxNewTokens: 10 + index * 5,
            n: 1,
            sampling: { ...GREEDY, temperature: 1 },
            seed: index,
          }),
        ),
      );
      const together = await drain(join(lease.value, sampled));
      await Promise.all(others);
      assert.deepEqual(together, alone);
      const unbatched = new DecodeRun(lease.value.lm, { ...sampled, eosIds });
      while (!unbatched.done) await unbatched.step();
      assert.deepEqual(alone, unbatched.generated, "the same draws as a generation that runs by itself");
    } finally {
      lease.release();
    }
  });

  test("the KV cache is charged to the model budget: a generation that does not fit waits, one that never fits is a 503", async () => {
    // A registry of its own, so the session and its batcher start empty.
    const tight = nodeRegistry(await quickStore(`${MODELS_DIR}/shop-assistant`, "shop-assistant"));
    const lease = await openGenerator(tight, await tight.manifest("shop-assistant"), "int8");
    const [first, second] = golden.cases;
    assert.ok(first && second);
    const { past, kvHeads, headDim } = lease.value.lm.layout;
    const perPosition = past.length * 2 * kvHeads * headDim * 4;
    const longest = Math.max(first.input_ids.length, second.input_ids.length) + golden.max_new_tokens;
    const { budget_bytes, used_bytes } = tight.cache.stats();
    // Leaves room in the budget for the cache of one and a half rows.
    const filler = budget_bytes - used_bytes - Math.floor(1.5 * longest * perPosition);
    assert.ok(tight.cache.reserve(filler));
    try {
      const greedy = (promptIds: number[], n = 1) => ({
        promptIds,
        maxNewTokens: golden.max_new_tokens,
        n,
        sampling: GREEDY,
        seed: 0,
      });
      const [a, b] = await Promise.all([
        drain(join(lease.value, greedy(first.input_ids))),
        drain(join(lease.value, greedy(second.input_ids))),
      ]);
      assert.deepEqual(a[0], first.int8.greedy_ids);
      assert.deepEqual(b[0], second.int8.greedy_ids);
      assert.equal(
        batchStatsOf(lease.value.lm.session)?.mean_batch_size,
        1,
        "the second waited for the first",
      );
      await assert.rejects(drain(join(lease.value, greedy(first.input_ids, 3))), (error: ApiError) => {
        assert.equal(error.code, "memory_busy");
        assert.equal(error.status, 503);
        return true;
      });
      assert.equal(tight.cache.stats().reserved_bytes, filler, "the batch holds nothing once it is empty");
    } finally {
      tight.cache.unreserve(filler);
      lease.release();
    }
  });

  for (const dtype of ["int8", "fp32"] as const) {
    test(`${dtype}: prompts of different lengths prefilled together in pieces keep their greedy goldens`, async () => {
      // A registry of its own, so the session's batcher counts only these generations.
      const own = nodeRegistry(await quickStore(`${MODELS_DIR}/shop-assistant`, "shop-assistant"));
      const lease = await openGenerator(own, await own.manifest("shop-assistant"), dtype);
      try {
        const results = await Promise.all(
          golden.cases.map((c) => drain(join(lease.value, { ...greedyCase(c), prefillChunk: 7 }))),
        );
        golden.cases.forEach((c, index) => {
          assert.deepEqual(results[index]?.[0], c[dtype].greedy_ids, c.name);
        });
        const longest = Math.max(...golden.cases.map((c) => c.input_ids.length));
        const stats = batchStatsOf(lease.value.lm.session);
        assert.equal(stats?.prefills, 1, "one prefill of every prompt, left-padded to the longest");
        assert.equal(stats?.prefill_runs, Math.ceil(longest / 7), "in pieces of 7 padded positions");
      } finally {
        lease.release();
      }
    });
  }

  test("a batch borrows idle model budget for run memory beyond the allowance, gives it back, and never evicts for it", async () => {
    const own = nodeRegistry(await quickStore(`${MODELS_DIR}/shop-assistant`, "shop-assistant"));
    // An idle model in the cache: borrowing may use free budget only, never evict it.
    (await openGenerator(own, await own.manifest("shop-assistant"), "fp32")).release();
    const lease = await openGenerator(own, await own.manifest("shop-assistant"), "int8");
    const cases = golden.cases.slice(0, 4);
    const { runCost, lm } = lease.value;
    const { past, kvHeads, headDim } = lm.layout;
    const longest = Math.max(...cases.map((c) => c.input_ids.length)) + golden.max_new_tokens;
    const kv = (rows: number) => rows * longest * past.length * 2 * kvHeads * headDim * 4;
    const decode = (rows: number) => runBytes(runCost, rows, 1, longest);
    // The allowance holds the decode run of two rows; four need twice that.
    const allowance = decode(2);
    const batcher = batcherFor(lm, {
      maxRows: MAX_BATCH_ROWS,
      maxQueue: MAX_BATCH_QUEUE,
      cost: runCost,
      allowance,
      memory: own.cache,
    });
    const start = (c: (typeof cases)[number]) =>
      batcher.join({
        promptIds: c.input_ids,
        maxNewTokens: golden.max_new_tokens,
        n: 1,
        sampling: GREEDY,
        seed: 0,
        eosIds,
        prefillChunk: 1,
      });
    try {
      const members = cases.map(start);
      await members[0]?.step();
      const running = batcher.stats();
      assert.equal(running.active_rows, 4, "all four admitted at once");
      assert.equal(running.borrowed_run_bytes, decode(4) - allowance);
      assert.equal(running.kv_cache_bytes, kv(4));
      assert.equal(own.cache.stats().reserved_bytes, kv(4) + decode(4) - allowance);
      const results = await Promise.all(members.map(drain));
      assert.deepEqual(
        results.map((generated) => generated[0]),
        cases.map((c) => c.int8.greedy_ids),
      );
      assert.equal(own.cache.stats().reserved_bytes, 0, "all given back once the rows have left");
      assert.equal(batcher.stats().prefills, 1, "the four prompts were prefilled together");

      // Free budget for the cache of four rows but the borrowed run memory of three: the fourth
      // waits (nothing is evicted for it), then runs once rows have left.
      const { budget_bytes, used_bytes } = own.cache.stats();
      const free = kv(4) + decode(3) - allowance + Math.floor((decode(4) - decode(3)) / 2);
      const filler = budget_bytes - used_bytes - free;
      assert.ok(own.cache.reserve(filler, false));
      try {
        const second = cases.map(start);
        await second[0]?.step();
        assert.equal(batcher.stats().active_rows, 3, "three rows fit what is free");
        assert.equal(batcher.stats().queued, 1);
        const again = await Promise.all(second.map(drain));
        assert.deepEqual(
          again.map((generated) => generated[0]),
          cases.map((c) => c.int8.greedy_ids),
        );
        assert.equal(own.cache.stats().evictions, 0, "the idle fp32 model stayed");
        assert.equal(own.cache.stats().reserved_bytes, filler);
      } finally {
        own.cache.unreserve(filler);
      }
    } finally {
      lease.release();
    }
  });

  test("a generation that leaves is out of the batch at the next step, and the others go on", async () => {
    const lease = await openGenerator(registry, await registry.manifest("shop-assistant"), "int8");
    try {
      const [first, second] = golden.cases;
      assert.ok(first && second);
      const options = (promptIds: number[]) => ({
        promptIds,
        maxNewTokens: 48,
        n: 1,
        sampling: GREEDY,
        seed: 0,
      });
      const leaving = join(lease.value, options(first.input_ids));
      const staying = join(lease.value, options(second.input_ids));
      await leaving.step();
      await leaving.step();
      const { past, kvHeads, headDim } = lease.value.lm.layout;
      const perPosition = past.length * 2 * kvHeads * headDim * 4;
      const longest = Math.max(first.input_ids.length, second.input_ids.length) + 48;
      assert.equal(
        registry.cache.stats().reserved_bytes,
        2 * longest * perPosition,
        "the KV cache of both rows, grown to their longest, is charged to the model budget",
      );
      leaving.close();
      const stayed = await drain(staying);
      assert.equal(registry.cache.stats().reserved_bytes, 0, "given back when the rows leave");
      assert.deepEqual(stayed[0], second.int8.greedy_ids);
      assert.ok((leaving.generated[0]?.length ?? 0) < first.int8.greedy_ids.length, "it stopped early");
      assert.equal(batchStatsOf(lease.value.lm.session)?.active_rows, 0);
    } finally {
      lease.release();
    }
  });
});

describe("a cold worker under a burst", () => {
  let worker: TestWorker;
  before(async () => {
    // The default budgets (80 MB of models, 16 MB per run), as a deployed isolate has them.
    worker = await startWorker();
    await worker.push(joinPath(MODELS_DIR, "shop-assistant"), "shop-assistant");
  });
  after(() => worker.close());

  test("64 concurrent chat requests on a fresh isolate all complete, with one load of the model", async () => {
    const requests = Array.from({ length: 64 }, (_, index) => {
      const c = golden.cases[index % golden.cases.length];
      assert.ok(c);
      return { c, stream: index % 2 === 1 };
    });
    const replies = await Promise.all(
      requests.map(async ({ c, stream }) => {
        const response = await worker.post("/v1/chat/completions", {
          model: "shop-assistant",
          messages: c.messages,
          max_tokens: golden.max_new_tokens,
          stream,
        });
        const body = await response.text();
        assert.equal(response.status, 200, body);
        if (!stream)
          return (JSON.parse(body) as { choices: { message: { content: string } }[] }).choices[0]?.message
            .content;
        const events = body.split("\n\n").filter((event) => event.startsWith("data: "));
        assert.equal(events.at(-1), "data: [DONE]");
        return events
          .slice(0, -1)
          .map(
            (event) =>
              (JSON.parse(event.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta
                .content ?? "",
          )
          .join("");
      }),
    );
    replies.forEach((reply, index) => {
      const c = requests[index]?.c;
      assert.equal(reply, c?.int8.greedy_text, `request ${index} (${c?.name}) in a burst of 64`);
    });

    const stats = (await (await worker.fetch("/v1/stats")).json()) as {
      cache: { evictions: number; entries: { key: string }[] };
      sessions: { key: string; batch?: { active_rows: number; queued: number; mean_batch_size: number } }[];
      store: { reads: Record<string, number> };
    };
    const modelKey = await loadedKey(worker.bucket, "shop-assistant", "onnx/model_quantized.onnx");
    assert.equal(stats.store.reads[modelKey], 1, "the model was read from the store once");
    assert.equal(stats.store.reads["models/shop-assistant/manifest.json"], 1);
    const sessions = stats.cache.entries.filter((entry) => entry.key.startsWith("shop-assistant/onnx/"));
    assert.equal(sessions.length, 1, "one session");
    assert.equal(stats.cache.evictions, 0);
    const batch = stats.sessions.find((session) => session.batch)?.batch;
    assert.ok(
      batch && batch.mean_batch_size > 4,
      `the burst shared steps (mean batch ${batch?.mean_batch_size})`,
    );
    assert.equal(batch.active_rows, 0);
    assert.equal(batch.queued, 0);
  });
});
