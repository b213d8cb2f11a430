import type { Context } from "hono";
import type { AppEnv } from "../env.js";
import type { Manifest } from "../runtime/manifest.js";
import {
  type Completion,
  chatPrompt,
  completeText,
  type GenerationParams,
  type GenerationStep,
  generateText,
  openGenerator,
  type Prompt,
  type ResolvedGeneration,
  resolveGeneration,
  type TextGenerator,
  textPrompt,
} from "../tasks/text-generation.js";
import type { ChatMessage } from "../text/chat-template.js";
import { leased } from "./lease.js";
import { type SseEvent, streamEvents } from "./sse.js";

/** A prompt rendered from chat messages with the model's template; errors name `param`. */
export const messagesPrompt =
  (messages: ChatMessage[], param: Prompt["param"] = "messages") =>
  (generator: TextGenerator): Prompt => ({ ids: chatPrompt(generator, messages), param });

/** A prompt taken as raw text (the model's tokenizer adds its special tokens). */
export const textOnlyPrompt =
  (text: string, param: Prompt["param"] = "prompt") =>
  (generator: TextGenerator): Prompt => ({ ids: textPrompt(generator, text), param });

/** One text generation, as a route asks for it; the route only decides the response's shape. */
export interface GenerationRequest {
  manifest: Manifest;
  dtype?: string;
  prompt: (generator: TextGenerator) => Prompt;
  params: GenerationParams;
  stream: boolean;
}

export interface GenerationRun {
  generator: TextGenerator;
  prompt: Prompt;
  resolved: ResolvedGeneration;
}

export interface GenerationShape {
  /** The JSON body of a response that is not streamed. */
  complete(run: GenerationRun, completion: Completion): unknown;
  /** The events of a streamed response. */
  stream(
    run: GenerationRun,
    steps: AsyncIterable<GenerationStep>,
    signal: AbortSignal,
  ): AsyncGenerator<SseEvent>;
}

/**
 * Opens the model, builds and checks the prompt, then answers in full or as a stream. The model's
 * lease is released when the response is complete, or handed to the stream, which releases it.
 */
export async function serveGeneration(
  c: Context<AppEnv>,
  request: GenerationRequest,
  shape: GenerationShape,
): Promise<Response> {
  const opening = openGenerator(c.get("registry"), request.manifest, request.dtype);
  if (!request.stream) {
    return leased(c, opening, async (generator) => {
      const run = prepare(generator, request);
      const completion = await completeText(generator, run.prompt, run.resolved, c.req.raw.signal);
      return c.json(shape.complete(run, completion));
    });
  }
  const lease = await opening;
  let run: GenerationRun;
  try {
    run = prepare(lease.value, request);
  } catch (error) {
    lease.release();
    throw error;
  }
  return streamEvents(c, lease, (signal) =>
    shape.stream(run, generateText(run.generator, run.prompt, run.resolved, signal), signal),
  );
}

function prepare(generator: TextGenerator, request: GenerationRequest): GenerationRun {
  const prompt = request.prompt(generator);
  return { generator, prompt, resolved: resolveGeneration(generator, prompt, request.params) };
}
