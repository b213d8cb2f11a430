/**
 * The model card's held-out figures: the captioner's ONNX files in the project's engine (onnxruntime-web,
 * greedy, batches of 16), every held-out scene captioned in English (no prompt) and Chinese (prompt
 * "图中"), fp32 and int8. Writes metrics.json beside this file; test/metrics reproduces it through the API.
 * Usage: node --import tsx models/recipes/captioner/eval_onnx.ts
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { engineWith } from "../../../host/engine.js";
import { nodeImageCodecs } from "../../../host/image-codecs.js";
import { DEFAULT_MAX_PIXELS } from "../../../src/image/decode.js";
import { caption, imageBatch, openCaptioner } from "../../../src/tasks/captioning.js";
import { LANGUAGES, type Lang, scoreCaptions, withoutPrompt } from "../../../test/helpers/captions.js";

const here = import.meta.dirname;
const rows = (await readFile(join(here, "heldout.jsonl"), "utf8"))
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as { en: string; zh: string });
const images = await Promise.all(
  rows.map((_, i) => readFile(join(here, "heldout", `${String(i).padStart(3, "0")}.png`))),
);
const registry = await engineWith("captioner");
const manifest = await registry.manifest("captioner");
const results: Record<string, Record<Lang, ReturnType<typeof scoreCaptions>>> = {};
for (const dtype of ["fp32", "int8"]) {
  const lease = await openCaptioner(registry, manifest, dtype);
  const perLang = {} as Record<Lang, ReturnType<typeof scoreCaptions>>;
  for (const lang of Object.keys(LANGUAGES) as Lang[]) {
    const outputs: string[] = [];
    for (let start = 0; start < images.length; start += 16) {
      const pixels = await imageBatch(lease.value, images.slice(start, start + 16), nodeImageCodecs, {
        maxPixels: DEFAULT_MAX_PIXELS,
        param: (i) => `images[${i}]`,
      });
      const result = await caption(lease.value, { pixels, prompt: LANGUAGES[lang] || undefined, numBeams: 1 });
      outputs.push(...result.captions.map((c) => withoutPrompt(c.text, lang)));
    }
    perLang[lang] = scoreCaptions(
      outputs,
      rows.map((row) => row[lang]),
      lang,
    );
    console.log(dtype, lang, perLang[lang], outputs.slice(0, 2));
  }
  lease.release();
  results[dtype] = perLang;
}
const metrics = { split: "heldout.jsonl", scenes: rows.length, decoding: "greedy, batches of 16", results };
await writeFile(join(here, "metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`);
