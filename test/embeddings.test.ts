import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { cosine, expectError } from "./helpers/assertions.js";
import { readRecipeJson, recipeFile } from "./helpers/recipes.js";

interface GloveGolden {
  inputs: { text: string; input_ids: number[] }[];
  fp32: { sentence_embedding: number[][] };
  int8: { sentence_embedding: number[][] };
}

const glove = await readRecipeJson<GloveGolden>("glove-static", "golden.json");
const similarity = (await readFile(recipeFile("glove-static", "similarity.tsv"), "utf8"))
  .trim()
  .split("\n")
  .slice(1)
  .map((line) => line.split("\t"));

interface EmbeddingsBody {
  data: { index: number; embedding: number[] }[];
  usage: { prompt_tokens: number; total_tokens: number };
  truncated?: number[];
}

describe("embeddings: glove-static through the worker", () => {
  let worker: TestWorker;
  let client: OpenAI;
  const embedTexts = async (input: string[], model = "glove-static") => {
    const response = await worker.post("/v1/embeddings", { model, input });
    assert.equal(response.status, 200, await response.clone().text());
    return ((await response.json()) as EmbeddingsBody).data.map((d) => d.embedding);
  };

  before(async () => {
    worker = await startWorker();
    await worker.push(join(MODELS_DIR, "glove-static"), "glove-static");
    await worker.push(join(MODELS_DIR, "order-risk"), "order-risk");
    client = new OpenAI({ apiKey: "unused", baseURL: new URL("/v1", worker.url).href, maxRetries: 0 });
  });
  after(() => worker.close());

  for (const dtype of ["fp32", "int8"] as const) {
    test(`${dtype} matches the recipe's embeddings (cosine >= 0.999)`, async () => {
      const model = dtype === "fp32" ? "glove-static:fp32" : "glove-static";
      const vectors = await embedTexts(
        glove.inputs.map((i) => i.text),
        model,
      );
      vectors.forEach((vector, index) => {
        const expected = glove[dtype].sentence_embedding[index] ?? [];
        if (expected.every((value) => value === 0)) {
          // Text with no known word (Chinese for this English vocabulary) embeds to zeros.
          assert.ok(
            vector.every((value) => value === 0),
            `input ${index} should be all zeros`,
          );
          return;
        }
        assert.ok(cosine(vector, expected) >= 0.999, `input ${index}: ${cosine(vector, expected)}`);
      });
    });
  }

  test("similar words score above unrelated ones on the committed table", async () => {
    let ordered = 0;
    for (const [anchor = "", similar = "", unrelated = ""] of similarity) {
      const [a = [], s = [], u = []] = await embedTexts([anchor, similar, unrelated]);
      if (cosine(a, s) > cosine(a, u)) ordered++;
    }
    assert.equal(ordered, similarity.length);
  });

  test("a batch of 32 mixed-length inputs equals each input alone", async () => {
    const words = "refund delivery parcel order shipping address password invoice warranty store".split(" ");
    const inputs = Array.from(
      { length: 32 },
      (_, i) => `${words.slice(0, 1 + (i % words.length)).join(" ")} ${i}`,
    );
    const batched = await embedTexts(inputs);
    for (const [index, input] of inputs.entries()) {
      const [alone = []] = await embedTexts([input]);
      assert.ok(cosine(batched[index] ?? [], alone) > 0.99999, `input ${index}`);
    }
  });

  test("the official openai client works unmodified, float and base64", async () => {
    const float = await client.embeddings.create({ model: "glove-static", input: ["refund", "delivery"] });
    assert.equal(float.data.length, 2);
    assert.equal(float.data[0]?.embedding.length, 100);
    const base64 = await client.embeddings.create({
      model: "glove-static",
      input: ["refund", "delivery"],
      encoding_format: "base64",
    });
    base64.data.forEach((item, index) => {
      const raw = Buffer.from(item.embedding as unknown as string, "base64");
      const decoded = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
      assert.ok(cosine(decoded, float.data[index]?.embedding ?? []) > 0.999999);
    });
    assert.ok(float.usage.prompt_tokens >= 2);
  });

  test("dimensions truncates and re-normalises", async () => {
    const response = await worker.post("/v1/embeddings", {
      model: "glove-static",
      input: "refund",
      dimensions: 32,
    });
    const [item] = ((await response.json()) as EmbeddingsBody).data;
    assert.equal(item?.embedding.length, 32);
    const norm = Math.sqrt((item?.embedding ?? []).reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5);
  });

  test("truncation is reported, or refused when asked", async () => {
    const long = Array.from({ length: 600 }, (_, i) => `word${i % 7}`).join(" ");
    const response = await worker.post("/v1/embeddings", { model: "glove-static", input: ["refund", long] });
    assert.equal(response.status, 200);
    assert.deepEqual(((await response.json()) as EmbeddingsBody).truncated, [1]);
    await expectError(
      await worker.post("/v1/embeddings", { model: "glove-static", input: [long], truncate: false }),
      400,
      { code: "input_too_long", param: "input[0]" },
    );
  });

  const bad: [string, unknown, number, { code?: string; param?: string }][] = [
    ["empty input list", { model: "glove-static", input: [] }, 400, { param: "input" }],
    [
      "empty string",
      { model: "glove-static", input: ["refund", " "] },
      400,
      { code: "empty_input", param: "input[1]" },
    ],
    [
      "over the batch limit",
      { model: "glove-static", input: Array.from({ length: 65 }, () => "x") },
      400,
      { param: "input" },
    ],
    [
      "token id out of the vocabulary",
      { model: "glove-static", input: [[1, 2, 999999]] },
      400,
      { code: "invalid_token" },
    ],
    [
      "dimensions larger than the model's",
      { model: "glove-static", input: "refund", dimensions: 101 },
      400,
      { param: "dimensions" },
    ],
    ["unknown model", { model: "no-such-model", input: "refund" }, 404, { code: "model_not_found" }],
    [
      "a model of another task",
      { model: "order-risk", input: "refund" },
      400,
      { code: "wrong_task", param: "model" },
    ],
    ["wrong type", { model: "glove-static", input: 42 }, 400, { param: "input" }],
  ];
  for (const [name, body, status, expected] of bad) {
    test(`bad input: ${name}`, async () => {
      await expectError(await worker.post("/v1/embeddings", body), status, expected);
      assert.equal((await worker.post("/v1/embeddings", { model: "glove-static", input: "ok" })).status, 200);
    });
  }
});
