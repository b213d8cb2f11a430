import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { cosine, expectError } from "./helpers/assertions.js";

/**
 * The reliability suite, bounded in time and count, against the built worker on 127.0.0.1:
 * a few hundred generated bad requests across every route (each a 4xx in OpenAI's error shape,
 * with a good request after every batch), and requests that would amplify memory (split, or
 * refused before running), after which ORT's wasm memory is still inside the isolate's accounting.
 */
const MODELS = ["shop-assistant", "phrase-translator", "intent-bert", "glove-static", "order-risk"];
const MB = 1024 * 1024;
/** ORT's own memory, the model budget and one run's allowance, as src/env.ts divides 128 MB. */
const ACCOUNTED_WASM = 16 * MB + 80 * MB + 16 * MB;

interface Stats {
  ort: { wasm_memory_bytes: number };
  cache: { used_bytes: number; entries: { key: string; in_use: number }[] };
}

const routes: { path: string; good: Record<string, unknown> }[] = [
  {
    path: "/v1/chat/completions",
    good: { model: "shop-assistant", messages: [{ role: "user", content: "hi" }], max_tokens: 2 },
  },
  { path: "/v1/completions", good: { model: "shop-assistant", prompt: "hello", max_tokens: 2 } },
  { path: "/v1/embeddings", good: { model: "glove-static", input: "refund" } },
  { path: "/v1/classify", good: { model: "intent-bert", input: "where is my order" } },
  { path: "/v1/translate", good: { model: "phrase-translator", text: "2 days", target_lang: "de" } },
  { path: "/ai/run/shop-assistant", good: { prompt: "hello", max_tokens: 2 } },
  { path: "/ai/run/intent-bert", good: { text: "where is my order" } },
  {
    path: "/v2/models/order-risk/infer",
    good: { inputs: [{ name: "features", shape: [1, 8], datatype: "FP32", data: [0, 0, 0, 0, 0, 0, 0, 0] }] },
  },
];

/** Every way this suite breaks a good body: each should be the client's error, never the server's. */
function corruptions(good: Record<string, unknown>): [string, BodyInit][] {
  const bodies: [string, BodyInit][] = [
    ["empty body", ""],
    ["truncated JSON", JSON.stringify(good).slice(0, -3)],
    ["not an object", "[1, 2, 3]"],
    ["a JSON string", '"hello"'],
    ["null", "null"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
    ["a lone surrogate escaped", '{"model": "\\ud800"}'],
  ];
  for (const [field, value] of Object.entries(good)) {
    const variants: [string, unknown][] = [
      ["null", null],
      ["a number", 12345],
      ["a negative number", -1],
      ["a huge number", 1e300],
      ["a boolean", true],
      ["an object", { nested: { deeper: [1, 2] } }],
      ["an empty array", []],
      ["a long array", Array.from({ length: 5000 }, (_, i) => i)],
      ["a path-like id", "../../etc/passwd"],
      ["a string of 300 KB", "x".repeat(300 * 1024)],
    ];
    for (const [name, replacement] of variants) {
      if (JSON.stringify(replacement) === JSON.stringify(value)) continue;
      bodies.push([`${field} as ${name}`, JSON.stringify({ ...good, [field]: replacement })]);
    }
    const without = { ...good };
    delete without[field];
    bodies.push([`without ${field}`, JSON.stringify(without)]);
  }
  return bodies;
}

describe("reliability: bad requests on every route, and work that would amplify memory", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker();
    for (const id of MODELS) await worker.push(join(MODELS_DIR, id), id);
  });
  after(() => worker.close());

  const stats = async () => (await (await worker.fetch("/v1/stats")).json()) as Stats;

  for (const { path, good } of routes) {
    test(`${path}: every corrupted body is a 4xx JSON error, and a good request follows`, async () => {
      const cases = corruptions(good);
      let clientErrors = 0;
      for (const [name, body] of cases) {
        const response = await worker.fetch(path, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        // A few corruptions are still valid requests (a field the route ignores, a default).
        if (response.status === 200) {
          await response.arrayBuffer();
          continue;
        }
        assert.ok(response.status >= 400 && response.status < 500, `${name}: status ${response.status}`);
        await expectError(response, response.status);
        clientErrors++;
      }
      assert.ok(clientErrors >= cases.length / 2, `${clientErrors} of ${cases.length} were refused`);
      const after = await worker.post(path, good);
      assert.equal(after.status, 200, `${path} still serves: ${await after.clone().text()}`);
      await after.arrayBuffer();
    });
  }

  test("64 inputs of 128 tokens to /v1/embeddings are split into runs and equal each input alone", async () => {
    const texts = Array.from({ length: 64 }, (_, i) => `order ${i} ${"where is my parcel ".repeat(40)}`);
    const response = await worker.post("/v1/embeddings", { model: "intent-bert", input: texts });
    assert.equal(response.status, 200, await response.clone().text());
    const batch = ((await response.json()) as { data: { embedding: number[] }[] }).data;
    for (const index of [0, 31, 63]) {
      const single = (await (
        await worker.post("/v1/embeddings", { model: "intent-bert", input: texts[index] })
      ).json()) as {
        data: { embedding: number[] }[];
      };
      assert.ok(cosine(batch[index]?.embedding ?? [], single.data[0]?.embedding ?? []) >= 0.99999);
    }
  });

  test("64 texts with num_beams 8 are translated in bounded steps", async () => {
    const texts = Array.from({ length: 64 }, (_, i) => `your order ships in ${i + 2} days`);
    const response = await worker.post("/v1/translate", {
      model: "phrase-translator",
      text: texts,
      target_lang: "de",
      num_beams: 8,
    });
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { translations: { text: string }[] };
    assert.equal(body.translations.length, 64);
    const alone = (await (
      await worker.post("/v1/translate", {
        model: "phrase-translator",
        text: texts[5],
        target_lang: "de",
        num_beams: 8,
      })
    ).json()) as { translations: { text: string }[] };
    assert.equal(body.translations[5]?.text, alone.translations[0]?.text);
  });

  test("a small request is answered while a long translation runs, not after it", async () => {
    const texts = Array.from(
      { length: 64 },
      (_, i) => `your order of ${i + 2} cups ships in ${i + 3} days. thank you!`,
    );
    const order: string[] = [];
    const long = worker
      .post("/v1/translate", { model: "phrase-translator", text: texts, target_lang: "zh", num_beams: 8 })
      .then(async (response) => {
        order.push("translation");
        return response.status;
      });
    // The translation's first steps have started once its model is in use.
    let inUse = 0;
    for (let attempt = 0; attempt < 1000 && inUse === 0; attempt++) {
      inUse = (await stats()).cache.entries
        .filter((entry) => entry.key.startsWith("phrase-translator/"))
        .reduce((sum, entry) => sum + entry.in_use, 0);
    }
    assert.ok(inUse > 0, "the translation is running");
    const small = await worker.post("/v1/classify", { model: "intent-bert", input: "where is my order" });
    order.push("classify");
    assert.equal(small.status, 200);
    assert.equal(await long, 200);
    assert.deepEqual(order, ["classify", "translation"], "the small request did not wait for the long one");
  });

  test("a request is answered while a long chat stream runs, not after it", async () => {
    // Each decode step yields a turn of workerd's event loop; without it the isolate took no other
    // request until the stream's last token.
    const response = await worker.post("/v1/chat/completions", {
      model: "shop-assistant",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 300,
      stream: true,
      logit_bias: { "0": -100, "2": -100 },
    });
    assert.equal(response.status, 200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const order: string[] = [];
    await reader.read();
    const draining = (async () => {
      while (!(await reader.read()).done);
      order.push("stream");
    })();
    const health = await worker.fetch("/healthz");
    order.push("healthz");
    await draining;
    assert.equal(health.status, 200);
    assert.deepEqual(order, ["healthz", "stream"], "the small request did not wait for the stream");
  });

  for (const shape of [
    [512, 128],
    [4096, 128],
  ]) {
    test(`a tensor request of shape [${shape}] on intent-bert is refused before it runs`, async () => {
      const elements = (shape[0] ?? 0) * (shape[1] ?? 0);
      const tensor = (name: string, value: number) => ({
        name,
        shape,
        datatype: "INT64",
        data: new Array(elements).fill(value),
      });
      const response = await worker.post("/v2/models/intent-bert/versions/model_quantized/infer", {
        inputs: [tensor("input_ids", 5), tensor("attention_mask", 1), tensor("token_type_ids", 0)],
      });
      const error = await expectError(response, 413, { code: "run_too_large" });
      assert.match(error.message, /RUN_MEMORY_MB/);
    });
  }

  test("after all of it, ORT's wasm memory is inside the isolate's accounting and nothing is held", async () => {
    const { ort, cache } = await stats();
    assert.ok(
      ort.wasm_memory_bytes <= ACCOUNTED_WASM,
      `wasm ${(ort.wasm_memory_bytes / MB).toFixed(1)} MB of ${ACCOUNTED_WASM / MB} MB`,
    );
    for (const entry of cache.entries) assert.equal(entry.in_use, 0, `${entry.key} is released`);
  });
});
