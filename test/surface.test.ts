import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { expectError } from "./helpers/assertions.js";

/**
 * The API surface around generation: fields the service does not implement are 400s naming them,
 * the Responses API's raw events, Workers AI's prompt handling, stream usage, REST envelope and
 * aliases.
 */
const ALIASES = {
  "@cf/meta/llama-3.1-8b-instruct": "shop-assistant",
  "@cf/alias/fp32": "shop-assistant:fp32",
};
const user = (content: string) => ({ role: "user", content });
const QUESTION = "Where is my order A1234567?";

describe("API surface", () => {
  let worker: TestWorker;
  const json = async <T>(response: Response): Promise<T> => {
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as T;
  };
  const sse = async (response: Response) => {
    assert.equal(response.status, 200, await response.clone().text());
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
    return (await response.text()).split("\n\n").filter((event) => event !== "");
  };

  before(async () => {
    worker = await startWorker({ aliases: ALIASES });
    await worker.push(join(MODELS_DIR, "shop-assistant"), "shop-assistant");
    await worker.push(join(MODELS_DIR, "intent-bert"), "intent-bert");
  });
  after(() => worker.close());

  const chat = { model: "shop-assistant", messages: [user("hi")] };
  const refused: [string, string, Record<string, unknown>, string][] = [
    ["chat", "/v1/chat/completions", { ...chat, tools: [] }, "tools"],
    ["chat", "/v1/chat/completions", { ...chat, tool_choice: "auto" }, "tool_choice"],
    ["chat", "/v1/chat/completions", { ...chat, parallel_tool_calls: false }, "parallel_tool_calls"],
    ["chat", "/v1/chat/completions", { ...chat, functions: [] }, "functions"],
    ["chat", "/v1/chat/completions", { ...chat, top_logprobs: 2 }, "top_logprobs"],
    ["chat", "/v1/chat/completions", { ...chat, audio: { voice: "alloy" } }, "audio"],
    ["chat", "/v1/chat/completions", { ...chat, modalities: ["text"] }, "modalities"],
    ["chat", "/v1/chat/completions", { ...chat, logprobs: true }, "logprobs"],
    [
      "chat",
      "/v1/chat/completions",
      { ...chat, response_format: { type: "json_object" } },
      "response_format.type",
    ],
    [
      "chat",
      "/v1/chat/completions",
      { ...chat, stream: true, stream_options: { include_obfuscation: true } },
      "stream_options.include_obfuscation",
    ],
    [
      "chat",
      "/v1/chat/completions",
      { ...chat, messages: [user("hi"), { role: "tool", content: "42", tool_call_id: "call_1" }] },
      "messages[1].role",
    ],
    [
      "chat",
      "/v1/chat/completions",
      {
        ...chat,
        messages: [
          user("hi"),
          { role: "assistant", content: "", tool_calls: [{ id: "call_1", type: "function" }] },
        ],
      },
      "messages[1].tool_calls",
    ],
    [
      "chat",
      "/v1/chat/completions",
      // Image parts are for image-to-text models; a text model refuses the part itself.
      { ...chat, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }] },
      "messages[0].content[0]",
    ],
    ["completions", "/v1/completions", { model: "shop-assistant", prompt: "hi", best_of: 2 }, "best_of"],
    ["embeddings", "/v1/embeddings", { model: "intent-bert", input: "hi", extra: 1 }, "extra"],
    ["responses", "/v1/responses", { model: "shop-assistant", input: "hi", tools: [] }, "tools"],
    [
      "responses",
      "/v1/responses",
      { model: "shop-assistant", input: "hi", previous_response_id: "resp_1" },
      "previous_response_id",
    ],
    ["responses", "/v1/responses", { model: "shop-assistant", input: "hi", store: true }, "store"],
    [
      "responses",
      "/v1/responses",
      { model: "shop-assistant", input: "hi", text: { format: { type: "json_schema" } } },
      "text.format.type",
    ],
    [
      "responses",
      "/v1/responses",
      { model: "shop-assistant", input: [{ type: "function_call_output", call_id: "c", output: "1" }] },
      "input",
    ],
    ["Workers AI", "/ai/run/shop-assistant", { prompt: "hi", tools: [] }, "tools"],
  ];
  for (const [surface, path, body, param] of refused) {
    test(`${surface}: ${param} is refused with a 400 naming it`, async () => {
      const error = await expectError(await worker.post(path, body), 400, { param });
      assert.ok(error.message.includes(param.split(".").at(-1) ?? param) || error.param === param);
    });
  }

  test("responses: a max_output_tokens past the context is a 400 naming max_output_tokens", async () => {
    const error = await expectError(
      await worker.post("/v1/responses", {
        model: "shop-assistant",
        input: "hi",
        max_output_tokens: 100_000,
      }),
      400,
      { code: "context_length_exceeded", param: "max_output_tokens" },
    );
    assert.match(error.message, /^max_output_tokens is 100000/);
  });

  test("fields OpenAI clients send that do not change the output are accepted", async () => {
    await json(
      await worker.post("/v1/chat/completions", {
        ...chat,
        max_tokens: 2,
        user: "u1",
        safety_identifier: "s1",
        prompt_cache_key: "k",
        response_format: { type: "text" },
        logprobs: false,
        messages: [user("hi"), { role: "assistant", content: "Hello.", refusal: null }, user("bye")],
      }),
    );
    await json(
      await worker.post("/v1/responses", {
        model: "shop-assistant",
        input: "hi",
        max_output_tokens: 2,
        store: false,
        text: { format: { type: "text" } },
        truncation: "disabled",
      }),
    );
  });

  test("responses: the streamed events are named, numbered in order, and end with usage", async () => {
    const events = await sse(
      await worker.post("/v1/responses", { model: "shop-assistant", input: QUESTION, stream: true }),
    );
    const parsed = events.map((event) => {
      const [name, data] = event.split("\n");
      const body = JSON.parse(data?.replace(/^data: /, "") ?? "") as {
        type: string;
        sequence_number: number;
      };
      assert.equal(name, `event: ${body.type}`);
      return body;
    });
    assert.deepEqual(
      parsed.map((e) => e.sequence_number),
      parsed.map((_, i) => i),
    );
    const types = parsed.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
    ]);
    assert.deepEqual(types.slice(-4), [
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const completed = parsed.at(-1) as unknown as {
      response: {
        status: string;
        usage: { output_tokens: number };
        output: { content: { text: string }[] }[];
      };
    };
    const plain = await json<{ output: { content: { text: string }[] }[] }>(
      await worker.post("/v1/responses", { model: "shop-assistant", input: QUESTION }),
    );
    assert.equal(completed.response.status, "completed");
    assert.ok(completed.response.usage.output_tokens > 0);
    assert.equal(completed.response.output[0]?.content[0]?.text, plain.output[0]?.content[0]?.text);
  });

  test("Workers AI: a prompt to a chat model goes through its template; raw: true does not", async () => {
    type Reply = { choices: { message?: { content: string }; text?: string }[] };
    const templated = await json<{ response: string }>(
      await worker.post("/ai/run/shop-assistant", { prompt: QUESTION, max_tokens: 24 }),
    );
    const viaChat = await json<Reply>(
      await worker.post("/v1/chat/completions", { ...chat, messages: [user(QUESTION)], max_tokens: 24 }),
    );
    assert.equal(templated.response, viaChat.choices[0]?.message?.content);

    const raw = await json<{ response: string }>(
      await worker.post("/ai/run/shop-assistant", { prompt: QUESTION, raw: true, max_tokens: 24 }),
    );
    const viaCompletion = await json<Reply>(
      await worker.post("/v1/completions", { model: "shop-assistant", prompt: QUESTION, max_tokens: 24 }),
    );
    assert.equal(raw.response, viaCompletion.choices[0]?.text);
    assert.notEqual(raw.response, templated.response);
  });

  test("Workers AI: a stream ends with the usage, then [DONE]", async () => {
    const events = await sse(await worker.post("/ai/run/shop-assistant", { prompt: QUESTION, stream: true }));
    assert.equal(events.at(-1), "data: [DONE]");
    const last = JSON.parse(events.at(-2)?.slice(6) ?? "") as {
      response: string;
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    };
    assert.equal(last.response, "");
    const text = events
      .slice(0, -2)
      .map((e) => (JSON.parse(e.slice(6)) as { response: string }).response)
      .join("");
    const plain = await json<{ response: string; usage: typeof last.usage }>(
      await worker.post("/ai/run/shop-assistant", { prompt: QUESTION }),
    );
    assert.equal(text, plain.response);
    assert.deepEqual(last.usage, plain.usage);
  });

  test("Workers AI REST route: Cloudflare's envelope, for answers and errors", async () => {
    const path = "/client/v4/accounts/0123abcd/ai/run";
    const ok = await json<{ result: { response: string }; success: boolean; errors: []; messages: [] }>(
      await worker.post(`${path}/@cf/meta/llama-3.1-8b-instruct`, { prompt: QUESTION, max_tokens: 8 }),
    );
    assert.equal(ok.success, true);
    assert.deepEqual([ok.errors, ok.messages], [[], []]);
    assert.equal(typeof ok.result.response, "string");

    const labels = await json<{ result: { label: string; score: number }[] }>(
      await worker.post(`${path}/intent-bert`, { text: "I forgot my password" }),
    );
    assert.ok(labels.result.length > 1 && labels.result.every((l) => typeof l.label === "string"));

    for (const [model, body, status] of [
      ["nope", { prompt: "hi" }, 404],
      ["shop-assistant", { prompt: "hi", tools: [] }, 400],
    ] as const) {
      const response = await worker.post(`${path}/${model}`, body);
      assert.equal(response.status, status);
      const envelope = (await response.json()) as {
        result: null;
        success: boolean;
        errors: { code: number; message: string }[];
      };
      assert.equal(envelope.success, false);
      assert.equal(envelope.result, null);
      assert.equal(envelope.errors[0]?.code, status);
      assert.ok(envelope.errors[0]?.message);
    }
    const streamed = await sse(
      await worker.post(`${path}/shop-assistant`, { prompt: "hi", stream: true, max_tokens: 4 }),
    );
    assert.equal(streamed.at(-1), "data: [DONE]");
  });

  test("aliases: a Workers AI id names the local model on every surface, with a dtype when the alias has one", async () => {
    const id = "@cf/meta/llama-3.1-8b-instruct";
    const viaAlias = await json<{ response: string }>(
      await worker.post(`/ai/run/${id}`, { prompt: QUESTION, max_tokens: 12 }),
    );
    const direct = await json<{ response: string }>(
      await worker.post("/ai/run/shop-assistant", { prompt: QUESTION, max_tokens: 12 }),
    );
    assert.equal(viaAlias.response, direct.response);

    const completion = await json<{ model: string; choices: { message: { content: string } }[] }>(
      await worker.post("/v1/chat/completions", { model: id, messages: [user(QUESTION)], max_tokens: 12 }),
    );
    assert.equal(completion.model, id);
    assert.equal(completion.choices[0]?.message.content, direct.response);

    const model = await json<{ id: string; task: string }>(await worker.fetch(`/v1/models/${id}`));
    assert.deepEqual([model.id, model.task], [id, "text-generation"]);

    const fp32 = await json<{ system_fingerprint: string }>(
      await worker.post("/v1/chat/completions", {
        model: "@cf/alias/fp32",
        messages: [user("hi")],
        max_tokens: 2,
      }),
    );
    const direct32 = await json<{ system_fingerprint: string }>(
      await worker.post("/v1/chat/completions", { ...chat, model: "shop-assistant:fp32", max_tokens: 2 }),
    );
    assert.equal(fp32.system_fingerprint, direct32.system_fingerprint);
    await expectError(await worker.fetch("/v1/models/@cf/unknown/model"), 400, { code: "invalid_model_id" });
  });

  test("Workers AI: a classification model answers with labels (the README's example)", async () => {
    const labels = await json<{ label: string; score: number }[]>(
      await worker.post("/ai/run/intent-bert", { text: "I want a refund" }),
    );
    assert.ok(labels.length > 1);
    assert.ok(labels.every((l) => typeof l.label === "string" && l.score >= 0 && l.score <= 1));
  });
});
