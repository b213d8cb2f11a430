import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import { readJson } from "../http.js";
import { parseModelRef } from "../tasks/model-files.js";
import {
  type CompletionTotals,
  chatPrompt,
  generateText,
  openGenerator,
  resolveGeneration,
  textPrompt,
} from "../tasks/text-generation.js";
import { chatMessage, generationParams, samplingFields, toChatMessages } from "./schemas.js";

/**
 * Workers AI's `POST /ai/run/{model}` shapes, so code written for `env.AI.run()` moves over by
 * changing a URL. The model's task decides which shape applies.
 */
const textGenerationRequest = z
  .object({
    ...samplingFields,
    prompt: z.string().min(1).optional(),
    messages: z.array(chatMessage).min(1).max(256).optional(),
  })
  .refine((body) => (body.prompt === undefined) !== (body.messages === undefined), {
    message: "Send either prompt or messages.",
    path: ["prompt"],
  });

export const workersAi = new Hono<AppEnv>().post("/ai/run/:model", async (c) => {
  const registry = c.get("registry");
  const { id, dtype } = parseModelRef(c.req.param("model"));
  const manifest = await registry.manifest(id);
  if (manifest.task !== "text-generation") {
    throw new ApiError(
      400,
      `The model '${id}' (${manifest.task}) has no Workers AI shape here.`,
      "wrong_task",
      "model",
    );
  }
  const body = await readJson(c, textGenerationRequest);
  const lease = await openGenerator(registry, manifest, dtype);
  let streaming = false;
  try {
    const promptIds = body.messages
      ? chatPrompt(lease.value, toChatMessages(body.messages))
      : textPrompt(lease.value, body.prompt ?? "");
    const resolved = resolveGeneration(lease.value, promptIds.length, {
      ...generationParams(body),
      maxTokens: body.max_tokens ?? 256,
    });
    const totals: CompletionTotals = { promptTokens: 0, completionTokens: 0 };
    if (body.stream) {
      streaming = true;
      return streamSSE(c, async (stream) => {
        const abort = new AbortController();
        stream.onAbort(() => abort.abort());
        try {
          for await (const deltas of generateText(lease.value, promptIds, resolved, totals, abort.signal)) {
            const text = deltas.map((delta) => delta.text).join("");
            if (text) await stream.writeSSE({ data: JSON.stringify({ response: text }) });
          }
          if (!abort.signal.aborted) await stream.writeSSE({ data: "[DONE]" });
        } finally {
          lease.release();
        }
      });
    }
    let response = "";
    for await (const deltas of generateText(lease.value, promptIds, resolved, totals)) {
      response += deltas.map((delta) => delta.text).join("");
    }
    return c.json({
      response,
      usage: {
        prompt_tokens: totals.promptTokens,
        completion_tokens: totals.completionTokens,
        total_tokens: totals.promptTokens + totals.completionTokens,
      },
    });
  } finally {
    if (!streaming) lease.release();
  }
});
