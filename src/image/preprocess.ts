import { z } from "zod";
import { ApiError } from "../errors.js";
import { type Pixels, Resample, resize } from "./resize.js";

/**
 * `preprocessor_config.json` of ViTImageProcessor / BlipImageProcessor (the fields they act on) and the
 * pixel_values they make: resize to {height, width} with Pillow's filter, rescale, normalise per
 * channel, channels first. Arithmetic follows transformers' numpy code: the rescale in float64 then
 * stored as float32, the normalisation in float32.
 */
const sizeSchema = z.object({ height: z.number().int().positive(), width: z.number().int().positive() });

const configSchema = z.object({
  image_processor_type: z.string().optional(),
  do_resize: z.boolean().default(true),
  size: z.union([sizeSchema, z.number().int().positive()]).optional(),
  resample: z.number().int().min(0).max(5).default(Resample.bilinear),
  do_rescale: z.boolean().default(true),
  rescale_factor: z.number().default(1 / 255),
  do_normalize: z.boolean().default(true),
  image_mean: z.union([z.number(), z.array(z.number()).length(3)]).default([0.5, 0.5, 0.5]),
  image_std: z.union([z.number(), z.array(z.number()).length(3)]).default([0.5, 0.5, 0.5]),
});

export interface ImageProcessor {
  height: number;
  width: number;
  resample: number;
  rescale: number | undefined;
  mean: [number, number, number] | undefined;
  std: [number, number, number] | undefined;
}

const SUPPORTED = new Set([
  "ViTImageProcessor",
  "BlipImageProcessor",
  "ViTImageProcessorFast",
  "BlipImageProcessorFast",
]);

export function readImageProcessor(json: unknown, modelId: string): ImageProcessor {
  const parsed = configSchema.safeParse(json ?? {});
  const bad = (why: string) =>
    new ApiError(
      502,
      `The model '${modelId}' has a preprocessor_config.json this engine cannot follow: ${why}.`,
      "bad_model",
    );
  if (!parsed.success) throw bad(parsed.error.issues[0]?.message ?? "invalid");
  const config = parsed.data;
  if (config.image_processor_type && !SUPPORTED.has(config.image_processor_type)) {
    throw bad(`image_processor_type ${config.image_processor_type}`);
  }
  if (!config.do_resize || config.size === undefined)
    throw bad("the model needs a fixed input size (size.height, size.width)");
  const size = typeof config.size === "number" ? { height: config.size, width: config.size } : config.size;
  const triple = (v: number | number[]): [number, number, number] =>
    typeof v === "number" ? [v, v, v] : [v[0] as number, v[1] as number, v[2] as number];
  return {
    height: size.height,
    width: size.width,
    resample: config.resample,
    rescale: config.do_rescale ? config.rescale_factor : undefined,
    mean: config.do_normalize ? triple(config.image_mean) : undefined,
    std: config.do_normalize ? triple(config.image_std) : undefined,
  };
}

/** One image's pixel_values, [3, height, width] flattened. */
export function pixelValues(image: Pixels, processor: ImageProcessor): Float32Array {
  if (image.channels !== 3) throw new RangeError("pixelValues expects RGB pixels.");
  const { height, width } = processor;
  const resized = resize(image, width, height, processor.resample);
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const mean = processor.mean ? f(processor.mean[c] as number) : 0;
    const std = processor.std ? f(processor.std[c] as number) : 1;
    for (let p = 0; p < plane; p++) {
      let v = resized.data[p * 3 + c] as number;
      if (processor.rescale !== undefined) v = f(v * processor.rescale);
      if (processor.mean) v = f(f(v - mean) / std);
      out[c * plane + p] = v;
    }
  }
  return out;
}
