import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import { readJson } from "../http.js";
import type { FinishReason } from "../tasks/causal-lm.js";
import { chatPrompt, type Usage } from "../tasks/text-generation.js";
import type { ChatMessage } from "../text/chat-template.js";
import { findModelFor } from "./aliases.js";
import { serveGeneration } from "./generation.js";
import { generationParams, modelRef, passiveFields, samplingFields, textFormat } from "./schemas.js";
import type { SseEvent } from "./sse.js";

/**
 * OpenAI's Responses API (`POST /v1/responses`) over the same generation as chat completions:
 * text in, one assistant message out. Nothing is stored, so `store: true`, `previous_response_id`
 * and the retrieval routes are absent; tools, reasoning and non-text formats are 400s naming them.
 */
const inputText = z.strictObject({ type: z.literal("input_text"), text: z.string() });
// Earlier replies come back as output_text parts when a client replays the conversation.
const outputText = z.strictObject({
  type: z.literal("output_text"),
  text: z.string(),
  annotations: z.array(z.unknown()).max(0).optional(),
});

const messageItem = z.strictObject({
  type: z.literal("message").optional(),
  id: z.string().optional(),
  status: z.enum(["in_progress", "completed", "incomplete"]).optional(),
  role: z.enum(["system", "developer", "user", "assistant"], {
    error: "role must be system, developer, user or assistant (tool calls are not supported)",
  }),
  content: z.union([z.string(), z.array(z.union([inputText, outputText])).min(1)], {
    error: "content must be a string or input_text / output_text parts (images and files are not supported)",
  }),
});

const { max_tokens: _, ...responseSampling } = samplingFields;

export const responsesRequest = z.strictObject({
  ...responseSampling,
  ...passiveFields,
  model: modelRef,
  input: z.union([z.string().min(1), z.array(messageItem).min(1).max(256)]),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().min(1).nullish(),
  text: z.strictObject({ format: textFormat.optional() }).nullish(),
  store: z
    .boolean()
    .nullish()
    .refine((value) => value !== true, "responses are not stored here; send store: false or leave it out"),
  truncation: z.literal("disabled", { error: "only truncation: disabled is supported" }).nullish(),
});

type ResponsesBody = z.infer<typeof responsesRequest>;

function toMessages(body: ResponsesBody): ChatMessage[] {
  const messages: ChatMessage[] = body.instructions ? [{ role: "system", content: body.instructions }] : [];
  if (typeof body.input === "string") return [...messages, { role: "user", content: body.input }];
  for (const item of body.input) {
    messages.push({
      role: item.role === "developer" ? "system" : item.role,
      content: typeof item.content === "string" ? item.content : item.content.map((p) => p.text).join(""),
    });
  }
  return messages;
}

function usageOf(usage: Usage) {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

export const responses = new Hono<AppEnv>().post("/v1/responses", async (c) => {
  const body = await readJson(c, responsesRequest);
  const { manifest, dtype } = await findModelFor(c, body.model);
  const messages = toMessages(body);
  const id = `resp_${crypto.randomUUID().replaceAll("-", "")}`;
  const itemId = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
  const createdAt = Math.floor(Date.now() / 1000);

  const message = (text: string, status: "in_progress" | "completed" | "incomplete") => ({
    id: itemId,
    type: "message",
    status,
    role: "assistant",
    content: text === "" && status === "in_progress" ? [] : [outputPart(text)],
  });
  /** The response object; `finish` is undefined while it is being generated. */
  const response = (output: unknown[], finish?: { reason: FinishReason | null; usage: Usage }) => ({
    id,
    object: "response",
    created_at: createdAt,
    status: finish === undefined ? "in_progress" : finish.reason === "length" ? "incomplete" : "completed",
    error: null,
    incomplete_details: finish?.reason === "length" ? { reason: "max_output_tokens" } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: body.model,
    output,
    parallel_tool_calls: false,
    previous_response_id: null,
    store: false,
    temperature: body.temperature ?? null,
    text: { format: { type: "text" } },
    tool_choice: "none",
    tools: [],
    top_p: body.top_p ?? null,
    truncation: "disabled",
    usage: finish === undefined ? null : usageOf(finish.usage),
    user: body.user ?? null,
    metadata: {},
  });

  const params = { ...generationParams(body), maxTokens: body.max_output_tokens ?? undefined };
  return serveGeneration(
    c,
    {
      manifest,
      dtype,
      prompt: (generator) => ({ ids: chatPrompt(generator, messages), param: "input" }),
      params,
      stream: body.stream === true,
    },
    {
      complete: (_run, completion) => {
        const reason = completion.finishReasons[0] ?? null;
        const text = completion.texts[0] ?? "";
        const item = message(text, reason === "length" ? "incomplete" : "completed");
        return response([item], { reason, usage: completion.usage });
      },
      async *stream({ prompt }, steps, signal) {
        let sequence = 0;
        const event = (type: string, fields: Record<string, unknown>, flush = false): SseEvent => ({
          event: type,
          data: JSON.stringify({ type, sequence_number: sequence++, ...fields }),
          flush,
        });
        const where = { item_id: itemId, output_index: 0, content_index: 0 };
        yield event("response.created", { response: response([]) });
        yield event("response.in_progress", { response: response([]) });
        yield event("response.output_item.added", { output_index: 0, item: message("", "in_progress") });
        yield event("response.content_part.added", { ...where, part: outputPart("") });
        let text = "";
        let reason: FinishReason | null = null;
        let usage: Usage = { promptTokens: prompt.ids.length, completionTokens: 0 };
        for await (const step of steps) {
          usage = step.usage;
          for (const delta of step.deltas) {
            reason = delta.finishReason ?? reason;
            if (!delta.text) continue;
            const first = text === "";
            text += delta.text;
            yield event("response.output_text.delta", { ...where, delta: delta.text, logprobs: [] }, first);
          }
        }
        if (signal.aborted) return;
        const status = reason === "length" ? "incomplete" : "completed";
        yield event("response.output_text.done", { ...where, text, logprobs: [] });
        yield event("response.content_part.done", { ...where, part: outputPart(text) });
        yield event("response.output_item.done", { output_index: 0, item: message(text, status) });
        yield event(`response.${status}`, { response: response([message(text, status)], { reason, usage }) });
      },
    },
  ).catch((error: unknown) => {
    // The engine names the limit as chat does; this API calls it max_output_tokens.
    if (!(error instanceof ApiError) || error.param !== "max_tokens") throw error;
    const message = error.message.replaceAll("max_tokens", "max_output_tokens");
    throw new ApiError(error.status, message, error.code, "max_output_tokens");
  });
});

function outputPart(text: string) {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}
