import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { MODELS_DIR } from "../../host/paths.js";
import { startWorker, type TestWorker } from "../../host/worker.js";
import {
  type CaptionScores,
  LANGUAGES,
  type Lang,
  scoreCaptions,
  withoutPrompt,
} from "../helpers/captions.js";
import { readJsonl, readRecipeJson, recipeFile } from "../helpers/recipes.js";

/** The captioner model card's held-out figures, reproduced through the worker with the official openai client. */
type Dtype = "fp32" | "int8";
interface Metrics {
  results: Record<Dtype, Record<Lang, CaptionScores>>;
}

const metrics = await readRecipeJson<Metrics>("captioner", "metrics.json");
const rows = await readJsonl<Record<Lang, string>>(recipeFile("captioner", "heldout.jsonl"));
const images = await Promise.all(
  rows.map((_, i) => readFile(recipeFile("captioner", join("heldout", `${String(i).padStart(3, "0")}.png`)))),
);
const PER_REQUEST = 8;

describe("captioner held-out split through the worker (openai client, image content parts)", () => {
  let worker: TestWorker;
  let client: OpenAI;
  before(async () => {
    worker = await startWorker();
    await worker.push(join(MODELS_DIR, "captioner"), "captioner");
    client = new OpenAI({ baseURL: new URL("/v1", worker.url).toString(), apiKey: "unused" });
  });
  after(() => worker.close());

  for (const dtype of ["int8", "fp32"] as Dtype[]) {
    test(`${dtype}: exact match of the attributes and chrF equal the model card`, async () => {
      for (const lang of Object.keys(LANGUAGES) as Lang[]) {
        const outputs: string[] = [];
        for (let start = 0; start < images.length; start += PER_REQUEST) {
          const batch = images.slice(start, start + PER_REQUEST);
          const completion = await client.chat.completions.create({
            model: dtype === "fp32" ? "captioner:fp32" : "captioner",
            messages: [
              {
                role: "user",
                content: [
                  ...(LANGUAGES[lang] ? [{ type: "text" as const, text: LANGUAGES[lang] }] : []),
                  ...batch.map((bytes) => ({
                    type: "image_url" as const,
                    image_url: { url: `data:image/png;base64,${bytes.toString("base64")}` },
                  })),
                ],
              },
            ],
          });
          const lines = (completion.choices[0]?.message.content ?? "").split("\n");
          assert.equal(lines.length, batch.length);
          outputs.push(...lines.map((line) => withoutPrompt(line, lang)));
        }
        const scores = scoreCaptions(
          outputs,
          rows.map((row) => row[lang]),
          lang,
        );
        assert.deepEqual(scores, metrics.results[dtype][lang], `${dtype} ${lang}`);
      }
    });
  }
});
