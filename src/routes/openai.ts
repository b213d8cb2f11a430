import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { readJson } from "../http.js";
import { parseModelRef } from "../tasks/model-files.js";
import {
  type ChoiceDelta,
  type CompletionTotals,
  chatPrompt,
  generateText,
  openGenerator,
  type ResolvedGeneration,
  resolveGeneration,
  type TextGenerator,
  textPrompt,
} from "../tasks/text-generation.js";
import { chatMessage, generationParams, openAiFields, toChatMessages } from "./schemas.js";

/** OpenAI's /v1/chat/completions and /v1/completions, non-streamed and as SSE. */
const chatRequest = z.object({ ...openAiFields, messages: z.array(chatMessage).min(1).max(256) });
const completionRequest = z.object({
  ...openAiFields,
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(1)]),
  echo: z
    .boolean()
    .nullish()
    .refine((value) => value !== true, "echo is not supported"),
  suffix: z
    .string()
    .nullish()
    .refine((value) => !value, "suffix is not supported"),
});

type Kind = "chat" | "text";

export const openai = new Hono<AppEnv>()
  .post("/v1/chat/completions", async (c) => {
    const body = await readJson(c, chatRequest);
    return serve(c, "chat", body, (generator) => chatPrompt(generator, toChatMessages(body.messages)));
  })
  .post("/v1/completions", async (c) => {
    const body = await readJson(c, completionRequest);
    const prompt = typeof body.prompt === "string" ? body.prompt : (body.prompt[0] ?? "");
    return serve(c, "text", body, (generator) => textPrompt(generator, prompt));
  });

type OpenAiBody = z.infer<typeof chatRequest> | z.infer<typeof completionRequest>;

async function serve(
  c: Context<AppEnv>,
  kind: Kind,
  body: OpenAiBody,
  buildPrompt: (generator: TextGenerator) => number[],
) {
  const registry = c.get("registry");
  const { id: modelId, dtype } = parseModelRef(body.model);
  const manifest = await registry.manifest(modelId);
  const lease = await openGenerator(registry, manifest, dtype);
  let streaming = false;
  try {
    const promptIds = buildPrompt(lease.value);
    const resolved = resolveGeneration(lease.value, promptIds.length, generationParams(body));
    const meta = {
      id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-${crypto.randomUUID()}`,
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      system_fingerprint: `fp_${lease.value.fingerprint}`,
    };
    if (body.stream) {
      streaming = true;
      const streamed = lease;
      return streamSSE(c, async (stream) => {
        const abort = new AbortController();
        stream.onAbort(() => abort.abort());
        try {
          await streamChoices(kind, meta, streamed.value, promptIds, resolved, body, abort.signal, (data) =>
            stream.writeSSE({ data }),
          );
        } finally {
          streamed.release();
        }
      });
    }
    return c.json(await collect(kind, meta, lease.value, promptIds, resolved));
  } finally {
    if (!streaming) lease.release();
  }
}

interface Meta {
  id: string;
  created: number;
  model: string;
  system_fingerprint: string;
}

function usage(totals: CompletionTotals) {
  return {
    prompt_tokens: totals.promptTokens,
    completion_tokens: totals.completionTokens,
    total_tokens: totals.promptTokens + totals.completionTokens,
  };
}

async function collect(
  kind: Kind,
  meta: Meta,
  generator: TextGenerator,
  promptIds: number[],
  resolved: ResolvedGeneration,
) {
  const totals: CompletionTotals = { promptTokens: 0, completionTokens: 0 };
  const texts = Array.from({ length: resolved.n }, () => "");
  const reasons: (string | null)[] = Array.from({ length: resolved.n }, () => null);
  for await (const deltas of generateText(generator, promptIds, resolved, totals)) {
    for (const delta of deltas) {
      texts[delta.choice] += delta.text;
      if (delta.finishReason) reasons[delta.choice] = delta.finishReason;
    }
  }
  const choices = texts.map((text, index) =>
    kind === "chat"
      ? {
          index,
          message: { role: "assistant", content: text, refusal: null },
          finish_reason: reasons[index],
          logprobs: null,
        }
      : { index, text, finish_reason: reasons[index], logprobs: null },
  );
  return {
    ...meta,
    object: kind === "chat" ? "chat.completion" : "text_completion",
    choices,
    usage: usage(totals),
  };
}

async function streamChoices(
  kind: Kind,
  meta: Meta,
  generator: TextGenerator,
  promptIds: number[],
  resolved: ResolvedGeneration,
  body: OpenAiBody,
  signal: AbortSignal,
  write: (data: string) => Promise<void>,
) {
  const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices: unknown[]) =>
    JSON.stringify({ ...meta, object, choices, ...(includeUsage ? { usage: null } : {}) });
  const choice = (delta: ChoiceDelta, first: boolean) =>
    kind === "chat"
      ? {
          index: delta.choice,
          delta: first ? { role: "assistant", content: delta.text } : { content: delta.text },
          finish_reason: delta.finishReason ?? null,
          logprobs: null,
        }
      : { index: delta.choice, text: delta.text, finish_reason: delta.finishReason ?? null, logprobs: null };

  if (kind === "chat") {
    const opening = Array.from({ length: resolved.n }, (_, index) =>
      choice({ choice: index, text: "" }, true),
    );
    await write(chunk(opening));
  }
  const totals: CompletionTotals = { promptTokens: 0, completionTokens: 0 };
  for await (const deltas of generateText(generator, promptIds, resolved, totals, signal)) {
    await write(chunk(deltas.map((delta) => choice(delta, false))));
  }
  if (signal.aborted) return;
  if (includeUsage) {
    await write(JSON.stringify({ ...meta, object, choices: [], usage: usage(totals) }));
  }
  await write("[DONE]");
}
