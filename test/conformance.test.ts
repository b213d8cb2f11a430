import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { inferTask, listFiles } from "../cli/lib/model-folder.js";
import { pushModel } from "../cli/lib/push.js";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import type { Task } from "../src/runtime/manifest.js";
import type { ModelRegistry } from "../src/runtime/registry.js";
import { causalBeamSearch } from "../src/tasks/causal-beam.js";
import { generateIds } from "../src/tasks/causal-lm.js";
import { embed, openEncoder } from "../src/tasks/encoder.js";
import { GREEDY } from "../src/tasks/sampling.js";
import { generateSeq2Seq } from "../src/tasks/seq2seq.js";
import { openGenerator } from "../src/tasks/text-generation.js";
import { openTranslator, seq2seqOptions } from "../src/tasks/translation.js";
import type { TextTokenizer } from "../src/text/tokenizer.js";
import { cosine } from "./helpers/assertions.js";

/**
 * Folders in the layouts users bring (Optimum exports as transformers.js loads them), made by
 * test/fixtures/hf/recipe from real Hugging Face classes; the goldens are Hugging Face's own
 * generate() / forward in PyTorch (fp32) or onnxruntime in Python (fp16, q8, q4 files).
 */

interface Beam {
  ids: number[];
  score: number;
}
interface Expected {
  greedy_ids?: number[];
  beam?: Beam;
  embedding?: number[];
  last_hidden_state?: number[][];
}
interface Case {
  text: string;
  input_ids: number[];
  forced_bos_token_id?: number;
  [dtype: string]: unknown;
}
interface Goldens {
  max_new_tokens: number;
  references: Record<string, string>;
  prompts: Case[];
}
interface Entry {
  name: string;
  task: Task;
  layout: string;
  dtypes: string[];
  goldens: string;
}

const ROOT = join(import.meta.dirname, "fixtures", "hf");
const index = JSON.parse(await readFile(join(ROOT, "index.json"), "utf8")) as { fixtures: Entry[] };
/** `HF_FIXTURES=marian-merged,t5` narrows the run while working on one layout. */
const only = process.env.HF_FIXTURES?.split(",");

// ---------------------------------------------------------------------------------------------
// The only part of this file that knows the engine's internal API (src/tasks); re-point it here.

interface Opened {
  /** The engine's own tokenization of a text (special tokens added as the tokenizer says). */
  tokenize(text: string): number[];
  tokenizer: TextTokenizer;
  /** Greedy ids: generated tokens for decoders; decoder start + generated for seq2seq. */
  greedy?(c: Case, maxNewTokens: number): Promise<number[]>;
  beam?(c: Case, maxNewTokens: number): Promise<Beam>;
  /** Mean-pooled, unnormalised embedding and the per-token hidden states of the ids. */
  embed?(ids: number[]): Promise<{ pooled: Float32Array; tokens: Float32Array[] }>;
  release(): void;
}

const registries = new Map<string, Promise<ModelRegistry>>();
/** The stores the fixtures were pushed into, copied as they are into the worker's R2 below. */
const stores = new Map<string, MemoryStore>();

/** Each folder is pushed once (pushing measures every ONNX file in its own process). */
function registryOf(entry: Entry): Promise<ModelRegistry> {
  let registry = registries.get(entry.name);
  if (!registry) {
    const store = new MemoryStore();
    stores.set(entry.name, store);
    // The task is given as `models:push --task` would: whether the engine infers it is a separate check.
    const folder = join(ROOT, entry.name);
    registry = pushModel(store.target(), { folder, id: entry.name, task: entry.task, quiet: true }).then(() =>
      nodeRegistry(store),
    );
    registries.set(entry.name, registry);
  }
  return registry;
}

async function openFixture(entry: Entry, dtype: string): Promise<Opened> {
  const registry = await registryOf(entry);
  const manifest = await registry.manifest(entry.name);
  const engineDtype = dtype === "q8" ? "int8" : dtype;
  if (entry.task === "text-generation") {
    const lease = await openGenerator(registry, manifest, engineDtype);
    const { lm, eosIds, assets } = lease.value;
    return {
      tokenize: (text) => assets.tokenizer.encode(text, true),
      tokenizer: assets.tokenizer,
      greedy: (c, maxNewTokens) =>
        generateIds(lm, { promptIds: c.input_ids, maxNewTokens, sampling: GREEDY, seed: 0, eosIds }),
      beam: async (c, maxNewTokens) => {
        const [best] = await causalBeamSearch(lm, {
          promptIds: c.input_ids,
          maxNewTokens,
          numBeams: 4,
          lengthPenalty: assets.generation.length_penalty ?? 1,
          earlyStopping: assets.generation.early_stopping === true,
          eosIds,
        });
        assert.ok(best, "a hypothesis");
        return { ids: best.tokens, score: best.score };
      },
      release: () => lease.release(),
    };
  }
  if (entry.task === "translation") {
    const lease = await openTranslator(registry, manifest, engineDtype);
    const translator = lease.value;
    const run = async (c: Case, maxNewTokens: number, numBeams: number) => {
      const options = seq2seqOptions(translator, {
        numBeams,
        numReturnSequences: 1,
        maxNewTokens,
        ...(c.forced_bos_token_id === undefined ? {} : { forcedBosId: c.forced_bos_token_id }),
      });
      const [hypotheses = []] = await generateSeq2Seq(translator.model, [c.input_ids], options);
      const best = hypotheses[0];
      assert.ok(best, "a hypothesis");
      return { ids: [options.decoderStartId, ...best.tokens], score: best.score };
    };
    return {
      tokenize: (text) => translator.assets.tokenizer.encode(text, true),
      tokenizer: translator.assets.tokenizer,
      greedy: async (c, maxNewTokens) => (await run(c, maxNewTokens, 1)).ids,
      beam: (c, maxNewTokens) => run(c, maxNewTokens, 4),
      release: () => lease.release(),
    };
  }
  const lease = await openEncoder(registry, manifest, engineDtype);
  const encoder = lease.value;
  return {
    tokenize: (text) => encoder.assets.tokenizer.encode(text, true),
    tokenizer: encoder.assets.tokenizer,
    embed: async (ids) => {
      const [[pooled = new Float32Array()] = []] = await embed(encoder, [ids], {
        pooling: "mean",
        normalize: false,
      });
      const [tokens = []] = await embed(encoder, [ids], { pooling: "none", normalize: false });
      return { pooled, tokens };
    },
    release: () => lease.release(),
  };
}
// ---------------------------------------------------------------------------------------------

async function goldensOf(entry: Entry): Promise<Goldens> {
  return JSON.parse(await readFile(join(ROOT, entry.name, entry.goldens), "utf8")) as Goldens;
}

/** The ids a tokenizer writes for the text alone: the recipe puts a language token before them. */
const textIds = (c: Case) => (c.forced_bos_token_id === undefined ? c.input_ids : c.input_ids.slice(1));

describe("the fixture index", () => {
  test("lists every folder under test/fixtures/hf, each with its goldens and ONNX files", async () => {
    const folders = (await readdir(ROOT, { withFileTypes: true }))
      .filter((item) => item.isDirectory() && item.name !== "recipe")
      .map((item) => item.name);
    assert.deepEqual(index.fixtures.map((entry) => entry.name).sort(), folders.sort());
    for (const entry of index.fixtures) {
      const files = await listFiles(join(ROOT, entry.name));
      for (const name of ["config.json", "tokenizer.json", "tokenizer_config.json", entry.goldens]) {
        assert.ok(files.includes(name), `${entry.name} has ${name}`);
      }
      assert.ok(
        files.some((f) => f.startsWith("onnx/") && f.endsWith(".onnx")),
        `${entry.name} has ONNX files`,
      );
      const goldens = await goldensOf(entry);
      for (const dtype of entry.dtypes)
        assert.ok(goldens.references[dtype], `${entry.name}: ${dtype} reference`);
    }
  });
});

for (const entry of index.fixtures.filter((e) => !only || only.includes(e.name))) {
  describe(`${entry.name} (${entry.task}, ${entry.layout})`, () => {
    test("the task is inferred from config.json", async () => {
      const config = JSON.parse(await readFile(join(ROOT, entry.name, "config.json"), "utf8"));
      assert.equal(inferTask(config), entry.task);
    });

    for (const dtype of entry.dtypes) {
      test(`${dtype}: engine outputs equal the goldens`, async () => {
        const goldens = await goldensOf(entry);
        const opened = await openFixture(entry, dtype);
        try {
          for (const c of goldens.prompts) {
            const expected = c[dtype] as Expected;
            assert.deepEqual(opened.tokenize(c.text), textIds(c), `tokenization of ${c.text}`);
            if (opened.greedy && expected.greedy_ids) {
              const ids = await opened.greedy(c, goldens.max_new_tokens);
              assert.deepEqual(ids, expected.greedy_ids, `greedy ids of ${c.text}`);
            }
            if (opened.beam && expected.beam) {
              const beam = await opened.beam(c, goldens.max_new_tokens);
              assert.deepEqual(beam.ids, expected.beam.ids, `beam-4 ids of ${c.text}`);
              assert.ok(
                Math.abs(beam.score - expected.beam.score) < 1e-3,
                `beam-4 score of ${c.text}: ${beam.score}, expected ${expected.beam.score}`,
              );
            }
            if (opened.embed && expected.embedding) {
              const { pooled, tokens } = await opened.embed(c.input_ids);
              const similarity = cosine(pooled, expected.embedding);
              assert.ok(similarity >= 0.9999, `embedding of ${c.text}: cosine ${similarity}`);
              expected.last_hidden_state?.forEach((row, i) => {
                const got = tokens[i] ?? new Float32Array();
                const worst = Math.max(...row.map((value, d) => Math.abs((got[d] ?? Number.NaN) - value)));
                assert.ok(worst < 1e-3, `last_hidden_state row ${i} of ${c.text} differs by ${worst}`);
              });
            }
          }
        } finally {
          opened.release();
        }
      });
    }
  });
}

/**
 * The same goldens through the worker's HTTP API in workerd: completions for decoders (greedy),
 * /v1/translate for seq2seq (greedy and beam 4, languages named as users name them), /v1/embeddings
 * for encoders. The API answers text, so the goldens' ids are decoded by each fixture's tokenizer.
 */
describe("the fixtures through the worker's HTTP API (fp32)", () => {
  let worker: TestWorker;
  const entries = index.fixtures.filter((e) => !only || only.includes(e.name));
  before(async () => {
    worker = await startWorker();
    for (const entry of entries) {
      await registryOf(entry);
      for (const [key, bytes] of stores.get(entry.name)?.objects ?? []) await worker.bucket.put(key, bytes);
    }
  });
  after(() => worker.close());

  for (const entry of entries) {
    test(`${entry.name}: ${entry.task} answers equal the goldens`, async () => {
      const goldens = await goldensOf(entry);
      const opened = await openFixture(entry, "fp32");
      const tokenizer = opened.tokenizer;
      try {
        for (const c of goldens.prompts) {
          const expected = c.fp32 as Expected;
          if (entry.task === "text-generation") {
            const response = await worker.post("/v1/completions", {
              model: `${entry.name}:fp32`,
              prompt: c.text,
              max_tokens: goldens.max_new_tokens,
              temperature: 0,
            });
            assert.equal(response.status, 200, await response.clone().text());
            const body = (await response.json()) as { choices: { text: string }[] };
            assert.equal(body.choices[0]?.text, tokenizer.decode(expected.greedy_ids ?? []), c.text);
          } else if (entry.task === "translation") {
            for (const [beams, ids] of [
              [1, expected.greedy_ids],
              [4, expected.beam?.ids],
            ] as const) {
              const languages =
                c.forced_bos_token_id === undefined
                  ? {}
                  : {
                      source_lang: tokenizer.token(c.input_ids[0] ?? -1),
                      target_lang: tokenizer.token(c.forced_bos_token_id),
                    };
              const response = await worker.post("/v1/translate", {
                model: `${entry.name}:fp32`,
                text: c.text,
                num_beams: beams,
                max_tokens: goldens.max_new_tokens,
                ...languages,
              });
              assert.equal(response.status, 200, await response.clone().text());
              const body = (await response.json()) as { translations: { text: string }[] };
              assert.equal(
                body.translations[0]?.text,
                tokenizer.decode(ids ?? []).trim(),
                `${c.text}, ${beams} beams`,
              );
            }
          } else {
            const response = await worker.post("/v1/embeddings", {
              model: `${entry.name}:fp32`,
              input: c.text,
              pooling: "mean",
              normalize: false,
            });
            assert.equal(response.status, 200, await response.clone().text());
            const body = (await response.json()) as { data: { embedding: number[] }[] };
            const similarity = cosine(body.data[0]?.embedding ?? [], expected.embedding ?? []);
            assert.ok(similarity >= 0.9999, `${c.text}: cosine ${similarity}`);
          }
        }
      } finally {
        opened.release();
      }
    });
  }
});
