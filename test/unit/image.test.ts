import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { nodeImageCodecs } from "../../host/image-codecs.js";
import { MODELS_DIR } from "../../host/paths.js";
import { DEFAULT_MAX_PIXELS, decodeImage } from "../../src/image/decode.js";
import { type ImageProcessor, pixelValues, readImageProcessor } from "../../src/image/preprocess.js";
import { Resample } from "../../src/image/resize.js";

// Reference pixel_values written by transformers' ViTImageProcessor (models/recipes/captioner/golden.py).
const FIXTURES = join(MODELS_DIR, "recipes", "captioner", "fixtures");
const processor = readImageProcessor(
  JSON.parse(readFileSync(join(MODELS_DIR, "captioner", "preprocessor_config.json"), "utf8")),
  "captioner",
);
const options = { maxPixels: DEFAULT_MAX_PIXELS, param: "image" };

function reference(name: string): Float32Array {
  const bytes = readFileSync(join(FIXTURES, name));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

async function maxDifference(name: string, proc: ImageProcessor, suffix = ".f32") {
  const image = await decodeImage(readFileSync(join(FIXTURES, name)), nodeImageCodecs, options);
  const ours = pixelValues(image, proc);
  const theirs = reference(name + suffix);
  assert.equal(ours.length, theirs.length);
  let worst = 0;
  for (let i = 0; i < ours.length; i++)
    worst = Math.max(worst, Math.abs((ours[i] as number) - (theirs[i] as number)));
  return worst;
}

describe("pixel_values equal transformers' ViTImageProcessor", () => {
  for (const name of [
    "scene.png",
    "scene.jpg",
    "scene.webp",
    "wide-rgba.png",
    "grey.png",
    "small.png",
    "palette.png",
  ]) {
    test(`${name} (bilinear)`, async () => {
      assert.ok((await maxDifference(name, processor)) <= 1e-5);
    });
  }
  for (const name of ["scene.png", "wide-rgba.png", "small.png"]) {
    test(`${name} (bicubic)`, async () => {
      const bicubic = { ...processor, resample: Resample.bicubic };
      assert.ok((await maxDifference(name, bicubic, ".bicubic.f32")) <= 1e-5);
    });
  }
});
