import assert from "node:assert/strict";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { FolderError } from "../cli/lib/folder-error.js";
import { pushAdapter } from "../cli/lib/lora/adapter.js";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import type { ModelRegistry } from "../src/runtime/registry.js";
import { readSafetensors, writeSafetensors } from "../src/runtime/safetensors.js";
import { generateIds } from "../src/tasks/causal-lm.js";
import { GREEDY } from "../src/tasks/sampling.js";
import { chatPrompt, openGenerator } from "../src/tasks/text-generation.js";
import { expectError } from "./helpers/assertions.js";
import { readRecipeJson } from "./helpers/recipes.js";

type Dtype = "fp32" | "int8";
interface Message {
  role: string;
  content: string;
}
interface AdapterCase {
  name: string;
  messages: Message[];
  prompt: string;
  max_new_tokens: number;
  int8_ids: number[];
  fp32_ids: number[];
}
interface BaseGolden {
  eos_token_id: number | number[];
  max_new_tokens: number;
  cases: {
    name: string;
    messages: Message[];
    fp32: { greedy_ids: number[] };
    int8: { greedy_ids: number[] };
  }[];
}

const FIXTURES = join(import.meta.dirname, "fixtures", "lora");
const BASE = "shop-assistant";
/**
 * Adapters made with peft by fixtures/lora/make_adapters.py (zero lora_B, which answers as the base, and
 * random lora_B), and the trained adapters committed under models/adapters/, each with its golden.json.
 */
const COMMITTED = join(MODELS_DIR, "adapters");
const ADAPTERS: { id: string; folder: string }[] = [
  ...["zero-b", "random-b"].map((id) => ({ id, folder: join(FIXTURES, id) })),
  ...(
    await readdir(COMMITTED, { withFileTypes: true }).then(
      (entries) => entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name),
      () => [] as string[],
    )
  )
    .sort()
    .map((id) => ({ id, folder: join(COMMITTED, id) })),
];
const baseGolden = await readRecipeJson<BaseGolden>(BASE, "golden.json");
const eosIds = new Set([baseGolden.eos_token_id].flat());
const goldens: Record<string, AdapterCase[]> = Object.fromEntries(
  await Promise.all(
    ADAPTERS.map(async ({ id, folder }) => {
      const json = JSON.parse(await readFile(join(folder, "golden.json"), "utf8")) as {
        cases: AdapterCase[];
      };
      return [id, json.cases] as const;
    }),
  ),
);
const casesOf = (id: string): AdapterCase[] => goldens[id] ?? [];

/** One chat request of the concurrent test and the greedy ids it must answer with. */
interface Job {
  model: string;
  messages: Message[];
  ids: number[];
  label: string;
  maxTokens?: number;
}

/** A copy of an adapter folder with its config or tensors changed, for the refusals. */
async function alteredAdapter(
  from: string,
  change: { config?: Record<string, unknown>; tensors?: (names: string[]) => string[] },
): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "lora-altered-"));
  await cp(join(FIXTURES, from), folder, { recursive: true });
  if (change.config) {
    const config = JSON.parse(await readFile(join(folder, "adapter_config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    await writeFile(join(folder, "adapter_config.json"), JSON.stringify({ ...config, ...change.config }));
  }
  if (change.tensors) {
    const path = join(folder, "adapter_model.safetensors");
    const tensors = readSafetensors(new Uint8Array(await readFile(path)));
    const keep = new Set(change.tensors([...tensors.keys()]));
    await writeFile(path, writeSafetensors([...tensors].filter(([name]) => keep.has(name))));
  }
  return folder;
}

describe("LoRA in the engine: greedy ids equal peft's", () => {
  let registry: ModelRegistry;
  let store: MemoryStore;
  before(async () => {
    store = new MemoryStore();
    await store.push(join(MODELS_DIR, BASE), BASE);
    for (const { id, folder } of ADAPTERS)
      await pushAdapter(store.target(), { folder, id, base: BASE, quiet: true });
    registry = nodeRegistry(store);
  });

  for (const dtype of ["int8", "fp32"] as Dtype[]) {
    test(`${dtype}: the base through its LoRA-ready graph, and each adapter, token for token`, async () => {
      const base = await openGenerator(registry, await registry.manifest(BASE), dtype);
      try {
        assert.ok(base.value.lm.layout.lora.length > 0, "the base runs its LoRA-ready graph");
        for (const c of baseGolden.cases) {
          const ids = await generateIds(base.value.lm, {
            promptIds: chatPrompt(base.value, c.messages),
            maxNewTokens: baseGolden.max_new_tokens,
            sampling: GREEDY,
            seed: 0,
            eosIds,
          });
          assert.deepEqual(ids, c[dtype].greedy_ids, `base ${c.name}`);
        }
      } finally {
        base.release();
      }
      for (const { id } of ADAPTERS) {
        const lease = await openGenerator(registry, await registry.manifest(id), dtype);
        try {
          assert.equal(lease.value.adapter?.id, id);
          for (const c of casesOf(id)) {
            const ids = await generateIds(lease.value.lm, {
              promptIds: chatPrompt(lease.value, c.messages),
              maxNewTokens: c.max_new_tokens,
              sampling: GREEDY,
              seed: 0,
              eosIds,
              adapter: lease.value.adapter,
            });
            assert.deepEqual(ids, c[`${dtype}_ids`], `${id} ${c.name}`);
            if (id === "zero-b") {
              const baseCase = baseGolden.cases.find((b) => b.name === c.name);
              assert.deepEqual(
                ids,
                baseCase?.[dtype].greedy_ids,
                `zero lora_B answers as the base: ${c.name}`,
              );
            }
          }
        } finally {
          lease.release();
        }
      }
    });
  }

  test("the random adapter changes every answer: its goldens are not the base's", () => {
    for (const c of casesOf("random-b")) {
      const baseCase = baseGolden.cases.find((b) => b.name === c.name);
      assert.notDeepEqual(c.int8_ids, baseCase?.int8.greedy_ids, c.name);
    }
  });

  test("models:push refuses adapters that do not fit, naming what is wrong", async () => {
    const target = store.target();
    const refused = async (folder: string, base: string, pattern: RegExp) => {
      await assert.rejects(
        pushAdapter(target, { folder, id: "bad", base, quiet: true }),
        (error: unknown) => {
          assert.ok(error instanceof FolderError, String(error));
          assert.match(error.message, pattern);
          return true;
        },
      );
    };
    const folders: string[] = [];
    const altered = async (change: Parameters<typeof alteredAdapter>[1]) => {
      const folder = await alteredAdapter("random-b", change);
      folders.push(folder);
      return folder;
    };
    try {
      await refused(await altered({ config: { r: 65 } }), BASE, /r is 65; the highest rank served is 64/);
      await refused(
        await altered({
          tensors: (names) => names.filter((name) => !name.includes("layers.2.mlp.up_proj.lora_B")),
        }),
        BASE,
        /has no tensor 'base_model\.model\.model\.layers\.2\.mlp\.up_proj\.lora_B\.weight'/,
      );
      await refused(
        await altered({ config: { r: 4 } }),
        BASE,
        /lora_A\.weight' is \[8, 256\]; .* r = 4 need \[4, 256\]/,
      );
      await refused(
        await altered({ config: { target_modules: ["q_proj", "qkv_proj"] } }),
        BASE,
        /'qkv_proj' does not exist in the base/,
      );
      await refused(await altered({ config: { peft_type: "IA3" } }), BASE, /only LORA adapters/);
      await refused(
        join(FIXTURES, "random-b"),
        "no-such-base",
        /'no-such-base' is not in memory: push it first/,
      );
      await store.push(join(MODELS_DIR, "order-risk"), "order-risk");
      await refused(join(FIXTURES, "random-b"), "order-risk", /order-risk' is a tensor model/);
      assert.equal(
        await store.target().get("models/bad/manifest.json"),
        null,
        "nothing stored for a refused adapter",
      );
    } finally {
      for (const folder of folders) await rm(folder, { recursive: true, force: true });
    }
  });
});

describe("LoRA through the worker: one base session for the base and every adapter", () => {
  let worker: TestWorker;
  let client: OpenAI;
  let decode: (ids: number[]) => string;

  before(async () => {
    worker = await startWorker();
    await worker.push(join(MODELS_DIR, BASE), BASE);
    for (const { id, folder } of ADAPTERS)
      await pushAdapter(worker.bucket, { folder, id, base: BASE, quiet: true });
    client = new OpenAI({ apiKey: "unused", baseURL: new URL("/v1", worker.url).href, maxRetries: 0 });
    const store = new MemoryStore();
    await store.push(join(MODELS_DIR, BASE), BASE);
    const registry = nodeRegistry(store);
    const lease = await openGenerator(registry, await registry.manifest(BASE), "int8");
    const tokenizer = lease.value.assets.tokenizer;
    lease.release();
    decode = (ids) => tokenizer.decode(ids.filter((id) => !eosIds.has(id)));
  });
  after(() => worker?.close());

  const chat = async (model: string, messages: Message[], maxTokens: number) => {
    const completion = await client.chat.completions.create({
      model,
      messages: messages as OpenAI.ChatCompletionMessageParam[],
      max_tokens: maxTokens,
    });
    return {
      text: completion.choices[0]?.message.content ?? "",
      tokens: completion.usage?.completion_tokens,
    };
  };

  test("the base, zero-B, random and committed adapters interleaved and concurrent: each answer equals its goldens", async () => {
    const jobs = baseGolden.cases
      .flatMap((baseCase, index): Job[] => {
        const random = casesOf("random-b")[index] as AdapterCase;
        const zero = casesOf("zero-b")[index] as AdapterCase;
        return [
          {
            model: BASE,
            messages: baseCase.messages,
            ids: baseCase.int8.greedy_ids,
            label: `base ${baseCase.name}`,
          },
          {
            model: "random-b",
            messages: random.messages,
            ids: random.int8_ids,
            label: `random-b ${random.name}`,
          },
          {
            model: "zero-b:fp32",
            messages: zero.messages,
            ids: zero.fp32_ids,
            label: `zero-b fp32 ${zero.name}`,
          },
          {
            model: "random-b:fp32",
            messages: random.messages,
            ids: random.fp32_ids,
            label: `random-b fp32 ${random.name}`,
          },
        ];
      })
      .concat(
        ADAPTERS.filter(({ folder }) => folder.startsWith(COMMITTED)).flatMap(({ id }) =>
          casesOf(id).flatMap((c) => [
            { model: id, messages: c.messages, ids: c.int8_ids, label: `${id} ${c.name}` },
            { model: `${id}:fp32`, messages: c.messages, ids: c.fp32_ids, label: `${id} fp32 ${c.name}` },
          ]),
        ),
      );
    const answers = await Promise.all(
      jobs.map((job) => chat(job.model, job.messages, job.maxTokens ?? baseGolden.max_new_tokens)),
    );
    assert.deepEqual(
      answers.map((answer, index) => ({ label: jobs[index]?.label, ...answer })),
      jobs.map((job) => ({ label: job.label, text: decode(job.ids), tokens: job.ids.length })),
    );
    const stats = (await (await worker.fetch("/v1/stats")).json()) as {
      sessions: { key: string; batch?: { mean_batch_size: number } }[];
    };
    const keys = stats.sessions.map((session) => session.key).sort();
    assert.deepEqual(
      keys.map((key) => key.replace(/@.*/, "")),
      [`${BASE}/lora/onnx/model.onnx`, `${BASE}/lora/onnx/model_quantized.onnx`],
      "one session per dtype of the base, shared by the base and both adapters",
    );
    const int8 = stats.sessions.find((session) => session.key.includes("model_quantized"));
    assert.ok(
      (int8?.batch?.mean_batch_size ?? 0) > 1,
      `rows of the base and an adapter shared steps: ${JSON.stringify(int8?.batch)}`,
    );
  });

  test("Workers AI: lora names the adapter of the model in the path", async () => {
    const c = casesOf("random-b")[1] as AdapterCase;
    const response = await worker.post(`/ai/run/${BASE}`, {
      messages: c.messages,
      lora: "random-b",
      max_tokens: c.max_new_tokens,
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { response: string };
    assert.equal(body.response, decode(c.int8_ids));
  });

  test("/v1/models lists each adapter with its base", async () => {
    const list = await client.models.list();
    const adapter = list.data.find((model) => model.id === "random-b") as unknown as Record<string, unknown>;
    assert.equal(adapter?.parent, BASE);
    assert.equal(adapter?.root, BASE);
    assert.equal((adapter?.lora as { rank: number } | undefined)?.rank, 8);
    const base = list.data.find((model) => model.id === BASE) as unknown as Record<string, unknown>;
    assert.equal(base?.parent, undefined);
    const variants = base?.variants as { name: string; loaded: boolean }[] | undefined;
    assert.equal(
      variants?.find((variant) => variant.name === "model_quantized")?.loaded,
      true,
      "served from its LoRA-ready copy",
    );
  });

  test("an unknown adapter is a 404, an adapter of another base or a model that is none a 400", async () => {
    await expectError(
      await worker.post("/v1/chat/completions", {
        model: "no-such-adapter",
        messages: [{ role: "user", content: "hi" }],
      }),
      404,
      { code: "model_not_found" },
    );
    const unknown = await worker.post(`/ai/run/${BASE}`, { prompt: "hi", lora: "no-such-adapter" });
    await expectError(unknown, 404, { code: "model_not_found", param: "lora" });
    await worker.push(join(MODELS_DIR, "order-risk"), "order-risk");
    await expectError(await worker.post(`/ai/run/${BASE}`, { prompt: "hi", lora: "order-risk" }), 400, {
      code: "lora_base_mismatch",
      param: "lora",
    });
    await worker.push(join(MODELS_DIR, BASE), "other-base");
    await pushAdapter(worker.bucket, {
      folder: join(FIXTURES, "zero-b"),
      id: "other-zero",
      base: "other-base",
      quiet: true,
    });
    await expectError(await worker.post(`/ai/run/${BASE}`, { prompt: "hi", lora: "other-zero" }), 400, {
      code: "lora_base_mismatch",
      param: "lora",
    });
  });
});
