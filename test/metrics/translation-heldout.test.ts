import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MODELS_DIR } from "../../host/paths.js";
import { startWorker, type TestWorker } from "../../host/worker.js";
import { chrF } from "../helpers/chrf.js";
import { readJsonl, readRecipeJson, recipeFile } from "../helpers/recipes.js";

/** The phrase-translator model card's held-out and novel-frame figures, reproduced through the worker. */
type Dtype = "fp32" | "int8";
interface Heldout {
  source: string;
  target_lang: string;
  reference: string;
}
type Results = Record<Dtype, Record<string, { exact_match: number; chrf: number }>>;
interface Metrics {
  results: Results;
  novel_frames: { results: Results };
}

const metrics = await readRecipeJson<Metrics>("phrase-translator", "metrics.json");
const heldout = await readJsonl<Heldout>(recipeFile("phrase-translator", "heldout.jsonl"));
const novel = await readJsonl<Heldout>(recipeFile("phrase-translator", "novel.jsonl"));
/** Sources carry the language token as the model reads it; the API takes it as target_lang. */
const plain = (source: string) => source.replace(/^>>\w+<<\s*/, "");

describe("phrase-translator held-out splits through the worker", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker();
    await worker.push(join(MODELS_DIR, "phrase-translator"), "phrase-translator");
  });
  after(() => worker.close());

  const translate = async (body: Record<string, unknown>) => {
    const response = await worker.post("/v1/translate", body);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as { translations: { text: string }[] };
  };

  const splits = [
    { name: "held-out split", rows: heldout, card: metrics.results },
    { name: "novel-frame split", rows: novel, card: metrics.novel_frames.results },
  ];
  for (const dtype of ["int8", "fp32"] as Dtype[]) {
    test(`${dtype}: the held-out and novel-frame splits reproduce the model card's exact match and chrF`, async () => {
      const model = dtype === "fp32" ? "phrase-translator:fp32" : "phrase-translator";
      for (const split of splits) {
        for (const lang of Object.keys(split.card[dtype]).filter((key) => key.length === 3)) {
          const rows = split.rows.filter((row) => row.target_lang === lang);
          const outputs: string[] = [];
          for (let start = 0; start < rows.length; start += 64) {
            const slice = rows.slice(start, start + 64);
            const result = await translate({
              model,
              text: slice.map((row) => plain(row.source)),
              target_lang: lang,
            });
            outputs.push(...result.translations.map((t) => t.text));
          }
          const exact = (100 * outputs.filter((text, i) => text === rows[i]?.reference).length) / rows.length;
          const score = chrF(
            outputs,
            rows.map((row) => row.reference),
          );
          const card = split.card[dtype][lang];
          const where = `${split.name} ${lang}`;
          assert.ok(
            Math.abs(exact - (card?.exact_match ?? -1)) < 0.01,
            `${where} exact ${exact} vs card ${card?.exact_match}`,
          );
          assert.ok(
            Math.abs(score - (card?.chrf ?? -1)) < 0.01,
            `${where} chrF ${score} vs card ${card?.chrf}`,
          );
        }
      }
    });
  }
});
