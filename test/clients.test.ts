import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { embed, embedMany, generateText, streamText } from "ai";
import OpenAI from "openai";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { cosine } from "./helpers/assertions.js";
import { readRecipeJson } from "./helpers/recipes.js";

/**
 * The real clients, unmodified but for base URL and key, against the built worker: openai, the AI
 * SDK (OpenAI-compatible chat, and @ai-sdk/openai on its default Responses path) and LangChain.
 * Replies are compared with the recipe's greedy goldens, so a field a client sends that changed
 * decoding (or was refused) shows up as a failure.
 */
interface Case {
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  input_ids: number[];
  int8: { greedy_ids: number[]; greedy_text: string };
}
const golden = await readRecipeJson<{ cases: Case[] }>("shop-assistant", "golden.json");
const en = golden.cases.find((c) => /A\d{7}/.test(c.messages.at(-1)?.content ?? "")) ?? golden.cases[0];
const zh = golden.cases.find((c) => /[\u4e00-\u9fff]/.test(c.messages.at(-1)?.content ?? ""));
const KEY = "unused";

function assertSameVectors(actual: number[][], expected: number[][]) {
  assert.equal(actual.length, expected.length);
  for (const [i, vector] of actual.entries()) {
    assert.ok(cosine(vector, expected[i] ?? []) > 0.9999, `vector ${i}`);
  }
}

describe("real clients against the worker", () => {
  let worker: TestWorker;
  let baseURL: string;
  let client: OpenAI;
  /** The worker's own float embeddings, to compare what each client decodes. */
  const reference = async (input: string[]) => {
    const response = await worker.post("/v1/embeddings", { model: "glove-static", input });
    const body = (await response.json()) as { data: { embedding: number[] }[] };
    return body.data.map((d) => d.embedding);
  };

  before(async () => {
    worker = await startWorker();
    await worker.push(join(MODELS_DIR, "shop-assistant"), "shop-assistant");
    await worker.push(join(MODELS_DIR, "glove-static"), "glove-static");
    baseURL = new URL("/v1", worker.url).href;
    client = new OpenAI({ apiKey: KEY, baseURL, maxRetries: 0 });
  });
  after(() => worker.close());

  describe("openai", () => {
    test("responses.create: text input, the greedy reply, usage", async () => {
      assert.ok(en);
      const last = en.messages.at(-1);
      assert.ok(last);
      const response = await client.responses.create({
        model: "shop-assistant",
        instructions: en.messages.find((m) => m.role === "system")?.content,
        input: en.messages.filter((m) => m.role !== "system"),
      });
      assert.equal(response.object, "response");
      assert.equal(response.status, "completed");
      assert.equal(response.output_text, en.int8.greedy_text);
      assert.equal(response.output[0]?.type, "message");
      assert.equal(response.usage?.input_tokens, en.input_ids.length);
      assert.equal(response.usage?.output_tokens, en.int8.greedy_ids.length);
    });

    test("responses.create streamed: created, text deltas, done and completed with usage", async () => {
      assert.ok(zh);
      const stream = await client.responses.create({
        model: "shop-assistant",
        input: zh.messages.map((m) => ({ role: m.role, content: [{ type: "input_text", text: m.content }] })),
        stream: true,
      });
      const types: string[] = [];
      let deltas = "";
      let done = "";
      let completed: OpenAI.Responses.Response | undefined;
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === "response.output_text.delta") deltas += event.delta;
        if (event.type === "response.output_text.done") done = event.text;
        if (event.type === "response.completed") completed = event.response;
      }
      assert.equal(types[0], "response.created");
      assert.equal(types.at(-1), "response.completed");
      assert.ok(types.filter((t) => t === "response.output_text.delta").length > 1, "several deltas");
      assert.equal(deltas, zh.int8.greedy_text);
      assert.equal(done, zh.int8.greedy_text);
      assert.equal(completed?.usage?.output_tokens, zh.int8.greedy_ids.length);
      assert.equal(completed?.usage?.input_tokens, zh.input_ids.length);
    });

    test("responses.create with max_output_tokens is incomplete", async () => {
      const response = await client.responses.create({
        model: "shop-assistant",
        input: "Where is my order A1234567?",
        max_output_tokens: 3,
      });
      assert.equal(response.status, "incomplete");
      assert.equal(response.incomplete_details?.reason, "max_output_tokens");
      assert.equal(response.usage?.output_tokens, 3);
    });

    test("models.retrieve returns the model object, also for a dtype variant", async () => {
      const model = await client.models.retrieve("shop-assistant:fp32");
      assert.equal(model.id, "shop-assistant:fp32");
      assert.equal(model.object, "model");
      assert.equal(typeof model.created, "number");
      assert.equal(model.owned_by, "edge-inference");
    });

    test("embeddings.create (the client asks for base64 and decodes it)", async () => {
      const texts = ["refund", "parcel delivery"];
      const result = await client.embeddings.create({ model: "glove-static", input: texts });
      const expected = await reference(texts);
      assertSameVectors(
        result.data.map((d) => d.embedding),
        expected,
      );
    });

    test("a tool definition is refused, naming the field", async () => {
      await assert.rejects(
        client.chat.completions.create({
          model: "shop-assistant",
          messages: [{ role: "user", content: "hi" }],
          tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }],
        }),
        (error: unknown) =>
          error instanceof OpenAI.BadRequestError &&
          (error.error as { param?: string }).param === "tools" &&
          error.code === "unsupported_parameter",
      );
    });
  });

  describe("AI SDK", () => {
    test("openai-compatible: generateText and streamText give the greedy reply with usage", async () => {
      assert.ok(en);
      const provider = createOpenAICompatible({ name: "edge", baseURL, apiKey: KEY, includeUsage: true });
      const model = provider.chatModel("shop-assistant");
      const generated = await generateText({ model, messages: en.messages, maxRetries: 0 });
      assert.equal(generated.text, en.int8.greedy_text);
      assert.equal(generated.usage.outputTokens, en.int8.greedy_ids.length);
      assert.equal(generated.finishReason, "stop");

      const streamed = streamText({ model, messages: en.messages, maxRetries: 0 });
      const pieces: string[] = [];
      for await (const piece of streamed.textStream) pieces.push(piece);
      assert.ok(pieces.length > 1, "streamed in several pieces");
      assert.equal(pieces.join(""), en.int8.greedy_text);
      assert.equal((await streamed.usage).outputTokens, en.int8.greedy_ids.length);
    });

    test("openai-compatible: embed and embedMany", async () => {
      const provider = createOpenAICompatible({ name: "edge", baseURL, apiKey: KEY });
      const model = provider.embeddingModel("glove-static");
      const expected = await reference(["refund", "gift card"]);
      const one = await embed({ model, value: "refund", maxRetries: 0 });
      assertSameVectors([one.embedding], expected.slice(0, 1));
      const many = await embedMany({ model, values: ["refund", "gift card"], maxRetries: 0 });
      assertSameVectors(many.embeddings, expected);
    });

    test("@ai-sdk/openai on its default Responses path: generateText and streamText", async () => {
      assert.ok(zh);
      const provider = createOpenAI({ baseURL, apiKey: KEY });
      const model = provider("shop-assistant");
      const generated = await generateText({ model, messages: zh.messages, maxRetries: 0 });
      assert.equal(generated.text, zh.int8.greedy_text);
      assert.equal(generated.usage.outputTokens, zh.int8.greedy_ids.length);

      const streamed = streamText({ model, messages: zh.messages, maxRetries: 0 });
      let text = "";
      for await (const piece of streamed.textStream) text += piece;
      assert.equal(text, zh.int8.greedy_text);
      assert.equal((await streamed.usage).inputTokens, zh.input_ids.length);
    });
  });

  describe("LangChain", () => {
    const chat = () =>
      new ChatOpenAI({ model: "shop-assistant", apiKey: KEY, configuration: { baseURL }, maxRetries: 0 });

    test("invoke and stream give the greedy reply", async () => {
      assert.ok(en && zh);
      const reply = await chat().invoke(en.messages.map((m) => [m.role, m.content] as [string, string]));
      assert.equal(reply.content, en.int8.greedy_text);
      assert.equal(reply.usage_metadata?.output_tokens, en.int8.greedy_ids.length);

      const chunks = await chat().stream(zh.messages.map((m) => [m.role, m.content] as [string, string]));
      let text = "";
      let count = 0;
      for await (const chunk of chunks) {
        text += typeof chunk.content === "string" ? chunk.content : "";
        count += 1;
      }
      assert.ok(count > 1, "streamed in several chunks");
      assert.equal(text, zh.int8.greedy_text);
    });

    test("OpenAIEmbeddings: embedQuery and embedDocuments", async () => {
      const embeddings = new OpenAIEmbeddings({
        model: "glove-static",
        apiKey: KEY,
        configuration: { baseURL },
        maxRetries: 0,
      });
      const expected = await reference(["refund", "parcel delivery"]);
      assertSameVectors([await embeddings.embedQuery("refund")], expected.slice(0, 1));
      assertSameVectors(await embeddings.embedDocuments(["refund", "parcel delivery"]), expected);
    });
  });
});
