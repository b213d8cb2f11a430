import assert from "node:assert/strict";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { engineWith, engineWithFolder } from "../host/engine.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import type { ModelRegistry } from "../src/runtime/registry.js";
import { generateSeq2Seq } from "../src/tasks/seq2seq.js";
import { seq2seqBatchStatsOf } from "../src/tasks/seq2seq-batch.js";
import { openTranslator, seq2seqOptions, type TranslateResult, translate } from "../src/tasks/translation.js";
import { expectError } from "./helpers/assertions.js";
import { readJsonl, readRecipeJson, recipeFile } from "./helpers/recipes.js";

type Dtype = "fp32" | "int8";
interface Case {
  source: string;
  target_lang: string;
  input_ids: number[];
  fp32: { greedy_ids: number[]; greedy_text: string; beam: { ids: number[]; score: number }[] };
  int8: { greedy_ids: number[]; greedy_text: string; beam: { ids: number[]; score: number }[] };
}
interface Golden {
  special_tokens: { decoder_start: number };
  generation: { max_length: number };
  cases: Case[];
}
interface Heldout {
  source: string;
  target_lang: string;
  reference: string;
}

const golden = await readRecipeJson<Golden>("phrase-translator", "golden.json");
const heldout = await readJsonl<Heldout>(recipeFile("phrase-translator", "heldout.jsonl"));
/** Sources carry the language token as the model reads it; the API takes it as target_lang. */
const plain = (source: string) => source.replace(/^>>\w+<<\s*/, "");
const withStart = (ids: number[]) => [golden.special_tokens.decoder_start, ...ids];

/**
 * Beam scores (mean log-probability) against the goldens. int8 quantizes activations per row at run time: a value
 * within float rounding of a .5 step can round one way in WASM and the other in PyTorch (one quantum), which moves
 * a hypothesis' score by up to a few 1e-3, as far as fp32 is from int8 (1e-4 to 1.5e-2 on these cases). So int8
 * scores may be off by `max`, but at least `close` of them must agree to 1e-4.
 */
const BEAM_SCORE: Record<Dtype, { max: number; close: number }> = {
  fp32: { max: 1e-3, close: 0 },
  // Measured: 21 of 32 int8 beam scores within 1e-4 when loaded from the pushed ORT-format copy
  // (its graph is optimised once at push time, which moves int8 rounding at .5 steps); ids stay exact.
  int8: { max: 1e-2, close: 0.6 },
};

describe("seq2seq engine against the recipe's PyTorch goldens", () => {
  let registry: ModelRegistry;
  before(async () => {
    registry = await engineWith("phrase-translator");
  });

  for (const dtype of ["fp32", "int8"] as Dtype[]) {
    test(`${dtype}: greedy and beam-4 ids equal the goldens`, async () => {
      const lease = await openTranslator(registry, await registry.manifest("phrase-translator"), dtype);
      let scores = 0;
      let close = 0;
      try {
        for (const c of golden.cases) {
          const greedyOptions = seq2seqOptions(lease.value, {
            numBeams: 1,
            numReturnSequences: 1,
            maxNewTokens: golden.generation.max_length - 1,
          });
          const [greedy] = await generateSeq2Seq(lease.value.model, [c.input_ids], greedyOptions);
          assert.deepEqual(withStart(greedy?.[0]?.tokens ?? []), c[dtype].greedy_ids, c.source);

          const beamOptions = { ...greedyOptions, numBeams: 4, numReturnSequences: 4 };
          const [beams = []] = await generateSeq2Seq(lease.value.model, [c.input_ids], beamOptions);
          assert.deepEqual(
            beams.map((h) => withStart(h.tokens)),
            c[dtype].beam.map((b) => b.ids),
            `beams of ${c.source}`,
          );
          beams.forEach((h, i) => {
            const off = Math.abs(h.score - (c[dtype].beam[i]?.score ?? 0));
            assert.ok(off < BEAM_SCORE[dtype].max, `score ${h.score}`);
            scores++;
            if (off < 1e-4) close++;
            if (i > 0) assert.ok(h.score <= (beams[i - 1]?.score ?? 0), "hypotheses come in score order");
          });
        }
        assert.ok(close >= BEAM_SCORE[dtype].close * scores, `${close} of ${scores} beam scores within 1e-4`);
      } finally {
        lease.release();
      }
    });
  }

  test("the unmerged decoder pair (decoder_model + decoder_with_past_model) gives the same ids", async () => {
    const folder = await mkdtemp(join(tmpdir(), "pair-"));
    try {
      await cp(join(MODELS_DIR, "phrase-translator"), folder, {
        recursive: true,
        filter: (source) => !source.includes("decoder_model_merged"),
      });
      const pair = await engineWithFolder(folder, "translator-pair");
      const lease = await openTranslator(pair, await pair.manifest("translator-pair"), "int8");
      try {
        assert.ok(lease.value.model.decoderWithPast, "the pair is in use");
        const options = seq2seqOptions(lease.value, {
          numBeams: 1,
          numReturnSequences: 1,
          maxNewTokens: golden.generation.max_length - 1,
        });
        for (const c of golden.cases) {
          const [greedy] = await generateSeq2Seq(lease.value.model, [c.input_ids], options);
          assert.deepEqual(withStart(greedy?.[0]?.tokens ?? []), c.int8.greedy_ids, c.source);
        }
      } finally {
        lease.release();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test("a batch of 16 mixed-length inputs gives each input's own output", async () => {
    const lease = await openTranslator(registry, await registry.manifest("phrase-translator"));
    try {
      const sources = heldout.slice(0, 16);
      const ids = sources.map((row) => lease.value.assets.tokenizer.encode(row.source, true));
      assert.ok(new Set(ids.map((row) => row.length)).size > 3, "inputs differ in length");
      for (const numBeams of [1, 4]) {
        const options = seq2seqOptions(lease.value, { numBeams, numReturnSequences: 1, maxNewTokens: 63 });
        const batched = await generateSeq2Seq(lease.value.model, ids, options);
        for (const [index, input] of ids.entries()) {
          const [alone] = await generateSeq2Seq(lease.value.model, [input], options);
          assert.deepEqual(
            batched[index]?.[0]?.tokens,
            alone?.[0]?.tokens,
            `beams ${numBeams}, input ${index}`,
          );
        }
      }
    } finally {
      lease.release();
    }
  });
});

describe("concurrent translations share encoder runs and decoder steps", () => {
  let registry: ModelRegistry;
  before(async () => {
    registry = await engineWith("phrase-translator");
  });

  for (const dtype of ["fp32", "int8"] as Dtype[]) {
    test(`${dtype}: greedy and beam-4 requests together each equal the request alone and the goldens`, async () => {
      const lease = await openTranslator(registry, await registry.manifest("phrase-translator"), dtype);
      try {
        const translator = lease.value;
        assert.ok(translator.batching, "the engine batches by default");
        const requests = golden.cases.flatMap((c) =>
          [1, 4].map((numBeams) => ({
            texts: [plain(c.source)],
            targetLang: c.target_lang,
            numBeams,
            numReturnSequences: numBeams,
          })),
        );
        const alone: TranslateResult[] = [];
        for (const request of requests) alone.push(await translate(translator, request));
        const before = seq2seqBatchStatsOf(translator.model.encoder);
        assert.equal(before?.max_jobs_per_batch, 1, "requests one at a time run alone");

        const together = await Promise.all(requests.map((request) => translate(translator, request)));
        together.forEach((result, index) => {
          const request = requests[index];
          const solo = alone[index];
          const c = golden.cases[Math.floor(index / 2)];
          assert.ok(request && solo && c);
          const [translation] = result.translations;
          assert.equal(translation?.text, solo.translations[0]?.text, `request ${index}`);
          if (request.numBeams === 1) assert.equal(translation?.text, c[dtype].greedy_text, c.source);
          const alternatives = translation?.alternatives ?? [];
          const soloAlternatives = solo.translations[0]?.alternatives ?? [];
          assert.deepEqual(
            alternatives.map((a) => a.text),
            soloAlternatives.map((a) => a.text),
            `beams of request ${index}`,
          );
          alternatives.forEach((a, k) => {
            assert.ok(Math.abs(a.score - (soloAlternatives[k]?.score ?? 0)) < 1e-4, `score ${index}/${k}`);
          });
        });
        const after = seq2seqBatchStatsOf(translator.model.encoder);
        assert.ok(after && before);
        assert.equal(after.jobs - before.jobs, requests.length, "every request ran once");
        assert.ok(
          after.batches - before.batches < requests.length,
          `${after.batches - before.batches} batches`,
        );
        assert.ok(after.max_jobs_per_batch > 1, `largest batch held ${after.max_jobs_per_batch} requests`);
      } finally {
        lease.release();
      }
    });
  }
});

describe("translation through the worker", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker();
    await worker.push(join(MODELS_DIR, "phrase-translator"), "phrase-translator");
  });
  after(() => worker.close());

  const translate = async (body: Record<string, unknown>) => {
    const response = await worker.post("/v1/translate", body);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as {
      translations: {
        text: string;
        target_lang?: string;
        alternatives?: { text: string; score: number }[];
      }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
  };

  test("greedy equals the golden text, beams of 1 equal greedy, alternatives come in score order", async () => {
    for (const c of golden.cases.slice(0, 4)) {
      const body = { text: plain(c.source), target_lang: c.target_lang };
      const greedy = await translate({ ...body, num_beams: 1 });
      assert.equal(greedy.translations[0]?.text, c.int8.greedy_text);
      const beams = await translate({ ...body, num_beams: 4, num_return_sequences: 4 });
      const scores = beams.translations[0]?.alternatives?.map((a) => a.score) ?? [];
      assert.equal(scores.length, 4);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
      );
    }
  });

  test("concurrent requests each get the golden text, sharing decoder steps", async () => {
    const requests = golden.cases.map((c) => ({ text: plain(c.source), target_lang: c.target_lang }));
    const results = await Promise.all(requests.map((body) => translate(body)));
    results.forEach((result, index) => {
      assert.equal(
        result.translations[0]?.text,
        golden.cases[index]?.int8.greedy_text,
        requests[index]?.text,
      );
    });
    const stats = (await (await worker.fetch("/v1/stats")).json()) as {
      sessions: { key: string; seq2seq_batch?: { max_jobs_per_batch: number } }[];
    };
    const encoder = stats.sessions.find((session) =>
      session.key.includes("/onnx/encoder_model_quantized.onnx@"),
    );
    assert.ok((encoder?.seq2seq_batch?.max_jobs_per_batch ?? 0) > 1, JSON.stringify(encoder));
  });

  test("long text is split into sentences, translated as a batch and joined back", async () => {
    const first = golden.cases.find((c) => c.target_lang === "deu");
    assert.ok(first);
    const single = (await translate({ text: plain(first.source), target_lang: "de" })).translations[0]?.text;
    const joined = (
      await translate({ text: `${plain(first.source)}.\n\n${plain(first.source)}.`, target_lang: "German" })
    ).translations[0]?.text;
    assert.equal(joined, `${single}\n\n${single}`);
  });

  test("the model list reports the languages derived from the model's files", async () => {
    const model = (await (await worker.fetch("/v1/models/phrase-translator")).json()) as {
      task: string;
      languages: string[];
    };
    assert.equal(model.task, "translation");
    assert.deepEqual(model.languages, ["deu", "fra", "zho"]);
  });

  test("Workers AI translation shape", async () => {
    const c = golden.cases.find((x) => x.target_lang === "fra");
    assert.ok(c);
    const response = await worker.post("/ai/run/phrase-translator", {
      text: plain(c.source),
      target_lang: "fr",
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { translated_text: c.int8.greedy_text });
  });

  const bad: [string, Record<string, unknown>, { code?: string; param?: string }, RegExp?][] = [
    [
      "unsupported language",
      { text: "2 days", target_lang: "klingon" },
      { code: "unsupported_language", param: "target_lang" },
      /Supported: (?=[^.]*deu)(?=[^.]*fra)(?=[^.]*zho)/,
    ],
    ["missing target language", { text: "2 days" }, { code: "missing_target_lang", param: "target_lang" }],
    ["empty text", { text: "  ", target_lang: "de" }, { param: "text" }],
    [
      "too many texts",
      { text: Array.from({ length: 65 }, () => "2 days"), target_lang: "de" },
      { param: "text" },
    ],
    [
      "text over the input length",
      { text: Array.from({ length: 300 }, () => "item").join(" "), target_lang: "de" },
      { code: "input_too_long", param: "text" },
    ],
    ["num_beams 0", { text: "2 days", target_lang: "de", num_beams: 0 }, { param: "num_beams" }],
    ["num_beams too large", { text: "2 days", target_lang: "de", num_beams: 64 }, { param: "num_beams" }],
    [
      "more return sequences than beams",
      { text: "2 days", target_lang: "de", num_beams: 2, num_return_sequences: 3 },
      { param: "num_return_sequences" },
    ],
    ["unknown model", { model: "nope", text: "2 days", target_lang: "de" }, { code: "model_not_found" }],
  ];
  for (const [name, body, expected, message] of bad) {
    test(`bad input: ${name}`, async () => {
      const error = await expectError(
        await worker.post("/v1/translate", body),
        expected.code === "model_not_found" ? 404 : 400,
        expected,
      );
      if (message) assert.match(error.message, message);
      assert.equal((await worker.post("/v1/translate", { text: "2 days", target_lang: "de" })).status, 200);
    });
  }
});
