import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError, invalidParam } from "../errors.js";
import { type DecodeOptions, decodeImage, type ImageCodecs } from "../image/decode.js";
import { type ImageProcessor, pixelValues, readImageProcessor } from "../image/preprocess.js";
import { StreamDecoder } from "../text/stream-decoder.js";
import type { FinishReason } from "./causal-lm.js";
import { pickOnnx } from "./model-files.js";
import { type Opener, openForTask, textAssets } from "./open-model.js";
import { nextToken, type SamplingParams, seededRandom } from "./sampling.js";
import { type OpenedSeq2Seq, Seq2SeqDecode, seq2seqModel } from "./seq2seq.js";
import type { GenerationStep, Usage } from "./text-generation.js";
import { MAX_BEAMS, seq2seqOptions } from "./translation.js";

/**
 * Image-to-text over Hugging Face's vision encoder-decoder layout (VisionEncoderDecoderModel as Optimum exports it):
 * the image processor's pixel_values into `encoder_model.onnx`, then the seq2seq decoder engine
 * (KV cache, greedy or beams) from its states. A prompt conditions the caption as BLIP's
 * "a photo of" does: the caption continues it, and the prompt is part of the returned text.
 */
export interface Captioner extends OpenedSeq2Seq {
  processor: ImageProcessor;
}

export const openCaptioner: Opener<Captioner> = (registry, manifest, dtype) =>
  openForTask<Captioner>(manifest, ["image-to-text"], "an image-to-text", async (group) => {
    const files = [
      pickOnnx(manifest, ["encoder_model"], dtype),
      pickOnnx(manifest, ["decoder_model_merged"], dtype),
    ];
    registry.cache.assertCanFit(
      `The model '${manifest.id}'`,
      files.reduce((sum, file) => sum + (file.onnx?.memory_bytes ?? 0), 0),
    );
    const assets = await group.take(textAssets(registry, manifest));
    const processor = await group.take(
      registry.asset(manifest, "image-processor", 1024, async () =>
        readImageProcessor(await registry.readJson(manifest, "preprocessor_config.json"), manifest.id),
      ),
    );
    // One at a time: each load holds its file's bytes in JS until ORT has copied them.
    const encoder = await group.take(registry.session(manifest, files[0] as (typeof files)[0]));
    const decoder = await group.take(registry.session(manifest, files[1] as (typeof files)[1]));
    return { manifest, assets, processor, model: seq2seqModel({ encoder, decoder }, assets.config) };
  });

/**
 * Encoded images to one pixel_values batch. Each image is decoded, resized and released before the
 * next, so a request holds one full-size image at a time.
 */
export async function imageBatch(
  captioner: Captioner,
  images: Uint8Array[],
  codecs: ImageCodecs,
  options: Omit<DecodeOptions, "param"> & { param: (index: number) => string },
): Promise<Tensor> {
  const { height, width } = captioner.processor;
  const size = 3 * height * width;
  const data = new Float32Array(images.length * size);
  for (const [index, bytes] of images.entries()) {
    const decoded = await decodeImage(bytes, codecs, { ...options, param: options.param(index) });
    data.set(pixelValues(decoded, captioner.processor), index * size);
  }
  return new captioner.model.encoder.ort.Tensor("float32", data, [images.length, 3, height, width]);
}

export interface CaptionRequest {
  /** pixel_values, [batch, 3, height, width] (imageBatch). */
  pixels: Tensor;
  prompt?: string;
  numBeams?: number;
  maxTokens?: number;
  /** Sampling for one-beam captions (greedy when absent or at temperature 0). */
  sampling?: SamplingParams;
  seed?: number;
}

export interface Caption {
  text: string;
  /** Generated token ids (after the prompt, without the end token). */
  tokens: number[];
}

export interface CaptionResult {
  captions: Caption[];
  promptTokens: number;
  outputTokens: number;
}

/** A started caption batch: the images encoded, the decoder ready to step. */
interface CaptionRun {
  decode: Seq2SeqDecode;
  prefix: number[];
  eosIds: ReadonlySet<number>;
  images: number;
}

async function startCaptions(captioner: Captioner, request: CaptionRequest): Promise<CaptionRun> {
  const { tokenizer, generation } = captioner.assets;
  const prefix = request.prompt ? tokenizer.encode(request.prompt, false) : [];
  const numBeams = request.numBeams ?? generation.num_beams ?? 1;
  if (numBeams > MAX_BEAMS) throw invalidParam("num_beams", `num_beams is at most ${MAX_BEAMS}.`);
  const sampling = request.sampling;
  if (sampling && sampling.temperature > 0 && numBeams > 1) {
    throw invalidParam("temperature", "Sampling (temperature > 0) takes one beam.", "unsupported_value");
  }
  const contextLength = captioner.assets.config.contextLength ?? Number.POSITIVE_INFINITY;
  const maxNewTokens = request.maxTokens ?? generation.max_new_tokens ?? 20;
  if (1 + prefix.length + maxNewTokens > contextLength) {
    throw invalidParam(
      "max_tokens",
      `The prompt (${prefix.length} tokens) and max_tokens (${maxNewTokens}) exceed the decoder's ${contextLength} positions.`,
      "input_too_long",
    );
  }
  const options = { ...seq2seqOptions(captioner, { numBeams, numReturnSequences: 1, maxNewTokens }), prefix };
  const outputs = await captioner.model.encoder.run({ pixel_values: request.pixels });
  const states = outputs.last_hidden_state as Tensor | undefined;
  if (!states) throw new ApiError(502, "The image encoder returned no last_hidden_state.", "bad_model");
  const images = states.dims[0] ?? 0;
  const random = seededRandom(request.seed ?? Math.floor(Math.random() * 2 ** 32));
  const choose =
    sampling && sampling.temperature > 0
      ? (logprobs: Float32Array, generated: readonly number[]) =>
          nextToken(logprobs, sampling, [...prefix, ...generated], generated, random)
      : undefined;
  const settings = Array.from({ length: images }, () => ({ ...options, choose }));
  const decode = new Seq2SeqDecode(captioner.model, { states }, options, settings);
  return { decode, prefix, eosIds: options.eosIds, images };
}

function withoutEnd(tokens: readonly number[], eosIds: ReadonlySet<number>): number[] {
  return eosIds.has(tokens[tokens.length - 1] ?? -1) ? tokens.slice(0, -1) : [...tokens];
}

export async function caption(captioner: Captioner, request: CaptionRequest): Promise<CaptionResult> {
  const { tokenizer } = captioner.assets;
  const { decode, prefix, eosIds } = await startCaptions(captioner, request);
  while (!decode.done) {
    await captioner.model.decoder.yieldTurn();
    await decode.step();
  }
  let outputTokens = 0;
  const captions = decode.results().map((kept) => {
    const tokens = withoutEnd(kept[0]?.tokens ?? [], eosIds);
    outputTokens += tokens.length;
    return { text: tokenizer.decode([...prefix, ...tokens], true).trim(), tokens };
  });
  return { captions, promptTokens: prefix.length * captions.length, outputTokens };
}

/**
 * The captions of a batch as one text, one caption per line, in pieces as the decoder steps: the
 * first unfinished caption is shown as it grows, the ones after it once it ends (lines stay in image
 * order). Whole characters only (a Chinese character split across tokens waits for its end); a stop
 * string ends a caption, and is not shown.
 */
export async function* captionText(
  captioner: Captioner,
  request: CaptionRequest,
  stops: readonly string[],
  signal?: AbortSignal,
): AsyncGenerator<GenerationStep> {
  const { tokenizer } = captioner.assets;
  const { decode, prefix, eosIds, images } = await startCaptions(captioner, request);
  const decoders = Array.from({ length: images }, () => {
    const decoder = new StreamDecoder(tokenizer, stops);
    for (const id of prefix) decoder.push(id);
    return decoder;
  });
  const read = decoders.map(() => 0);
  const finished = decoders.map(() => false);
  let shown = "";
  let finishReason: FinishReason = "stop";
  const usage: Usage = { promptTokens: prefix.length * images, completionTokens: 0 };
  while (!finished.every(Boolean)) {
    if (signal?.aborted) return;
    if (!decode.done) {
      await captioner.model.decoder.yieldTurn();
      await decode.step();
    }
    decoders.forEach((decoder, image) => {
      if (finished[image]) return;
      const tokens = withoutEnd(decode.tokensOf(image), eosIds);
      let taken = read[image] ?? 0;
      let stopped = false;
      while (!stopped && taken < tokens.length) stopped = decoder.push(tokens[taken++] ?? 0).stopped;
      read[image] = taken;
      if (stopped || decode.isDone(image)) {
        decoder.flush();
        finished[image] = true;
        usage.completionTokens += taken;
        if (!stopped && !eosIds.has(decode.tokensOf(image).at(-1) ?? -1)) finishReason = "length";
      }
    });
    let text = "";
    for (const [image, decoder] of decoders.entries()) {
      text += `${image > 0 ? "\n" : ""}${decoder.text.trimStart()}`;
      if (!finished[image]) break;
    }
    const done = finished.every(Boolean);
    if (done) text = text.trimEnd();
    const delta = text.startsWith(shown) ? text.slice(shown.length) : "";
    shown += delta;
    if (delta || done) {
      yield { deltas: [{ choice: 0, text: delta, ...(done ? { finishReason } : {}) }], usage: { ...usage } };
    }
  }
}
