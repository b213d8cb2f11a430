import { type Context, Hono } from "hono";
import { z } from "zod";
import { type AppEnv, DEFAULT_MAX_BODY_BYTES, positiveNumber } from "../env.js";
import { invalidParam } from "../errors.js";
import { readJson } from "../http.js";
import { DEFAULT_MAX_PIXELS } from "../image/decode.js";
import { bytesFromBase64, bytesFromUrl } from "../image/input.js";
import { DEFAULT_IMAGE_FETCH_TIMEOUT_MS, ImageFetcher, remoteImagePolicy } from "../image/remote.js";
import { withLease } from "../runtime/isolate-cache.js";
import type { Manifest } from "../runtime/manifest.js";
import { type CaptionResult, caption, captionText, imageBatch, openCaptioner } from "../tasks/captioning.js";
import type { FinishReason } from "../tasks/causal-lm.js";
import { onlyModelFor, parseModelRef } from "../tasks/model-files.js";
import { type GenerationStep, resolveSampling, type Usage } from "../tasks/text-generation.js";
import { MAX_BEAMS } from "../tasks/translation.js";
import { chatFormat, formatCompletion, formatStream, metaFor } from "./openai-format.js";
import { type chatMessage, generationParams, modelRef, type SamplingRequest, usageBody } from "./schemas.js";
import { streamEvents } from "./sse.js";

/**
 * Image-to-text over HTTP: /v1/caption for batches, and the image-to-text shapes of the OpenAI chat
 * route (content parts with data: URLs) and Workers AI's /ai/run ({image, prompt} -> {description}).
 */
export const MAX_IMAGES = 16;
const MAX_PROMPT_CHARS = 500;
const MAX_CAPTION_TOKENS = 256;

interface CaptionJob {
  images: Uint8Array[];
  /** The request field of image i, named in errors. */
  param: (index: number) => string;
  prompt?: string;
  numBeams?: number;
  maxTokens?: number;
}

function runCaption(
  c: Context<AppEnv>,
  manifest: Manifest,
  dtype: string | undefined,
  job: CaptionJob,
  respond: (result: CaptionResult) => Response,
): Promise<Response> {
  return withLease(
    openCaptioner(c.get("registry"), manifest, dtype),
    async (captioner) => {
      const pixels = await imageBatch(captioner, job.images, c.get("imageCodecs"), {
        maxPixels: DEFAULT_MAX_PIXELS,
        param: job.param,
      });
      const result = await caption(captioner, {
        pixels,
        prompt: job.prompt,
        numBeams: job.numBeams,
        maxTokens: job.maxTokens,
      });
      return respond(result);
    },
    c.req.raw.signal,
  );
}

export const captionRequest = z.strictObject({
  model: modelRef.optional(),
  images: z.array(z.string().min(1)).min(1).max(MAX_IMAGES),
  prompt: z.string().max(MAX_PROMPT_CHARS).optional(),
  num_beams: z.number().int().min(1).max(MAX_BEAMS).optional(),
  max_tokens: z.number().int().min(1).max(MAX_CAPTION_TOKENS).optional(),
});

/** Remote images for this request, if the operator allows them (IMAGE_URL_HOSTS). */
function imageFetcher(c: Context<AppEnv>): ImageFetcher | undefined {
  const policy = remoteImagePolicy(
    c.env.IMAGE_URL_HOSTS,
    positiveNumber(c.env.IMAGE_FETCH_TIMEOUT_MS, DEFAULT_IMAGE_FETCH_TIMEOUT_MS),
    positiveNumber(c.env.MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES),
  );
  return policy && new ImageFetcher(policy, c.req.raw.signal);
}

/** An image field: a data: or http(s) URL, or bare base64. */
function imageField(value: string, param: string, fetcher: ImageFetcher | undefined): Promise<Uint8Array> {
  return value.startsWith("data:") || /^https?:/i.test(value)
    ? bytesFromUrl(value, param, fetcher)
    : Promise.resolve(bytesFromBase64(value, param));
}

/** One at a time, so a refused image stops the downloads that would follow it. */
async function imageFields(
  values: string[],
  param: (index: number) => string,
  fetcher: ImageFetcher | undefined,
) {
  const images: Uint8Array[] = [];
  for (const [index, value] of values.entries()) images.push(await imageField(value, param(index), fetcher));
  return images;
}

export const captionRoute = new Hono<AppEnv>().post("/v1/caption", async (c) => {
  const registry = c.get("registry");
  const body = await readJson(c, captionRequest);
  const ref = body.model ? parseModelRef(body.model) : undefined;
  const manifest = ref
    ? await registry.manifest(ref.id)
    : await onlyModelFor(registry, "image-to-text", "an image-to-text");
  const param = (index: number) => `images[${index}]`;
  const job = {
    images: await imageFields(body.images, param, imageFetcher(c)),
    param,
    prompt: body.prompt,
    numBeams: body.num_beams,
    maxTokens: body.max_tokens,
  };
  return runCaption(c, manifest, ref?.dtype, job, (result) =>
    c.json({
      model: body.model ?? manifest.id,
      captions: result.captions.map((one) => ({ text: one.text })),
      usage: usageBody({ promptTokens: result.promptTokens, completionTokens: result.outputTokens }),
    }),
  );
});

type ChatMessage = z.infer<typeof chatMessage>;

type ChatCaptionBody = SamplingRequest & {
  model: string;
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
};

/**
 * Chat completions for an image-to-text model: the images of the last user message are captioned, its
 * text parts are the prompt. One choice, one caption per image, a line each; whole or streamed, greedy
 * or sampled (temperature, top_p, top_k, min_p, seed, penalties, logit_bias), with stop strings.
 */
export async function chatCaption(
  c: Context<AppEnv>,
  manifest: Manifest,
  dtype: string | undefined,
  body: ChatCaptionBody,
): Promise<Response> {
  if ((body.n ?? 1) !== 1)
    throw invalidParam("n", "Image-to-text models return one choice (n = 1).", "unsupported_value");
  const index = body.messages.findLastIndex((message) => message.role === "user");
  const message = body.messages[index];
  const parts = message && typeof message.content !== "string" ? message.content : [];
  const urls: string[] = [];
  const params: string[] = [];
  const texts: string[] = [];
  parts.forEach((part, at) => {
    if (part.type === "text") texts.push(part.text);
    else {
      params.push(`messages[${index}].content[${at}].image_url.url`);
      urls.push(part.image_url.url);
    }
  });
  if (urls.length === 0) {
    throw invalidParam(
      "messages",
      `The model '${manifest.id}' describes images: send the last user message with image_url content parts.`,
      "image_required",
    );
  }
  if (urls.length > MAX_IMAGES) throw invalidParam("messages", `At most ${MAX_IMAGES} images per request.`);
  const fetcher = imageFetcher(c);
  const images: Uint8Array[] = [];
  for (const [at, url] of urls.entries())
    images.push(await bytesFromUrl(url, params[at] ?? "messages", fetcher));
  const generation = generationParams(body);
  const prompt = texts.join(" ").trim();
  const includeUsage = body.stream_options?.include_usage === true;
  const lease = await openCaptioner(c.get("registry"), manifest, dtype);
  let steps: (signal?: AbortSignal) => AsyncGenerator<GenerationStep>;
  try {
    const captioner = lease.value;
    const pixels = await imageBatch(captioner, images, c.get("imageCodecs"), {
      maxPixels: DEFAULT_MAX_PIXELS,
      param: (i) => params[i] ?? "messages",
    });
    const request = {
      pixels,
      prompt: prompt || undefined,
      maxTokens: generation.maxTokens,
      sampling: resolveSampling(
        generation,
        captioner.assets.generation,
        captioner.assets.tokenizer.vocabSize,
      ),
      seed: generation.seed,
    };
    steps = (signal) => captionText(captioner, request, generation.stop ?? [], signal);
  } catch (error) {
    lease.release();
    throw error;
  }
  const meta = metaFor(chatFormat, body.model, manifest.id);
  if (body.stream) {
    return streamEvents(c, lease, (signal) =>
      formatStream(chatFormat, meta, { n: 1, includeUsage, promptTokens: 0 }, steps(signal), signal),
    );
  }
  return withLease(
    Promise.resolve(lease),
    async () => {
      let text = "";
      let finishReason: FinishReason | null = null;
      let usage: Usage = { promptTokens: 0, completionTokens: 0 };
      for await (const step of steps(c.req.raw.signal)) {
        usage = step.usage;
        for (const delta of step.deltas) {
          text += delta.text;
          finishReason = delta.finishReason ?? finishReason;
        }
      }
      return c.json(
        formatCompletion(chatFormat, meta, { texts: [text], finishReasons: [finishReason], usage }),
      );
    },
    c.req.raw.signal,
  );
}

const workersAiRequest = z.strictObject({
  image: z.union([z.array(z.number().int().min(0).max(255)).min(1), z.string().min(1)]),
  prompt: z.string().max(MAX_PROMPT_CHARS).optional(),
  max_tokens: z.number().int().min(1).max(MAX_CAPTION_TOKENS).optional(),
});

/** Workers AI's image-to-text shape: {image: bytes or base64, prompt?, max_tokens?} -> {description}. */
export async function workersAiCaption(
  c: Context<AppEnv>,
  manifest: Manifest,
  dtype: string | undefined,
): Promise<Response> {
  const body = await readJson(c, workersAiRequest);
  const bytes =
    typeof body.image === "string"
      ? await imageField(body.image, "image", imageFetcher(c))
      : Uint8Array.from(body.image);
  const job = { images: [bytes], param: () => "image", prompt: body.prompt, maxTokens: body.max_tokens };
  return runCaption(c, manifest, dtype, job, (result) =>
    c.json({ description: result.captions[0]?.text ?? "" }),
  );
}
