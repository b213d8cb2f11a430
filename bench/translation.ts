import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Tensor } from "onnxruntime-web/wasm";
import { loadTransformers, wasmOptions } from "../cli/lib/transformers.js";
import { MODELS_DIR } from "../host/paths.js";
import type { Feeds } from "../src/runtime/session.js";
import { generateSeq2Seq } from "../src/tasks/seq2seq.js";
import { emptyCache } from "../src/tasks/tensors.js";
import { openTranslator, seq2seqOptions, type Translator } from "../src/tasks/translation.js";
import { prepareModel } from "./setup.js";
import { ms, percentile, ratio, table, timeInterleaved } from "./stats.js";

/**
 * Sentences per second and latency for the bundled translator: one sentence and a batch of 16,
 * greedy and beam 4, in Node and through the worker, next to a bare onnxruntime-web
 * encoder + merged-decoder greedy loop and transformers.js generate() (greedy) on the same folder.
 */
const MODEL = "phrase-translator";
const ROUNDS = 8;

interface Row {
  source: string;
  target_lang: string;
}

/** The floor: encoder once, merged decoder step by step with its cache, argmax, batch of one. */
async function bareGreedy(
  translator: Translator,
  ids: number[],
  maxNewTokens: number,
  start: number,
  eos: Set<number>,
) {
  const { encoder, decoder, layout } = translator.model;
  const { ort } = encoder;
  const shape = [1, ids.length];
  const mask = new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), shape);
  const encoded = await encoder.run({
    input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), shape),
    attention_mask: mask,
  });
  let past: Feeds = {};
  for (let layer = 0; layer < layout.layers; layer++) {
    for (const side of ["decoder", "encoder"]) {
      for (const kind of ["key", "value"]) {
        past[`past_key_values.${layer}.${side}.${kind}`] = emptyCache(
          ort,
          layout.cacheType,
          1,
          layout.heads,
          layout.headDim,
        );
      }
    }
  }
  let token = start;
  for (let step = 0; step < maxNewTokens; step++) {
    const outputs = await decoder.run({
      ...past,
      input_ids: new ort.Tensor("int64", BigInt64Array.from([BigInt(token)]), [1, 1]),
      encoder_attention_mask: mask,
      encoder_hidden_states: encoded.last_hidden_state as Tensor,
      use_cache_branch: new ort.Tensor("bool", new Uint8Array([step > 0 ? 1 : 0]), [1]),
    });
    const logits = outputs.logits as Tensor;
    const data = logits.data as Float32Array;
    let best = 0;
    for (let i = 1; i < data.length; i++) if ((data[i] ?? 0) > (data[best] ?? 0)) best = i;
    token = best;
    past = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      if (name.startsWith("present.")) past[name.replace("present.", "past_key_values.")] = tensor as Tensor;
    }
    if (eos.has(token)) break;
  }
}

/**
 * The engine and transformers.js run in this process between worker requests, long enough for
 * workerd to close idle keep-alive sockets; a request that lands on such a socket is sent again.
 */
async function postWithRetry(send: () => Promise<Response>): Promise<unknown> {
  try {
    return await (await send()).json();
  } catch (error) {
    if (!String((error as Error & { cause?: Error }).cause?.message).includes("other side closed"))
      throw error;
    return (await send()).json();
  }
}

type Runner = (round: number) => Promise<unknown>;

export async function benchTranslation(only?: string[]): Promise<string> {
  if (only && !only.includes(MODEL)) return "";
  const heldout = (await readFile(join(MODELS_DIR, "recipes", MODEL, "heldout.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Row);
  const plain = (row: Row) => row.source.replace(/^>>\w+<<\s*/, "");
  const batchOf = (round: number, size: number) =>
    Array.from({ length: size }, (_, i) => heldout[(round * size + i) % heldout.length] as Row);

  const { registry, manifest, worker } = await prepareModel(MODEL);
  const transformers = await loadTransformers(MODELS_DIR);
  const rows: string[][] = [];
  try {
    for (const dtype of ["int8", "fp32"] as const) {
      process.stderr.write(`translation: ${dtype}\n`);
      const lease = await openTranslator(registry, manifest, dtype);
      const translator = lease.value;
      const { tokenizer } = translator.assets;
      const encode = (row: Row) => tokenizer.encode(row.source, true);
      const model = await transformers.AutoModelForSeq2SeqLM.from_pretrained(
        MODEL,
        wasmOptions(dtype === "int8" ? "q8" : "fp32") as never,
      );
      for (const size of [1, 16]) {
        for (const beams of [1, 4]) {
          const options = seq2seqOptions(translator, {
            numBeams: beams,
            numReturnSequences: 1,
            maxNewTokens: 63,
          });
          const runners: Record<string, Runner> = {
            engine: (round) => generateSeq2Seq(translator.model, batchOf(round, size).map(encode), options),
            worker: async (round) => {
              const batch = batchOf(round, size);
              // One request per target language in the batch, sent together.
              const byLang = new Map<string, string[]>();
              for (const row of batch)
                byLang.set(row.target_lang, [...(byLang.get(row.target_lang) ?? []), plain(row)]);
              await Promise.all(
                [...byLang].map(([lang, text]) =>
                  postWithRetry(() =>
                    worker.post("/v1/translate", {
                      model: `${MODEL}:${dtype}`,
                      text,
                      target_lang: lang,
                      num_beams: beams,
                    }),
                  ),
                ),
              );
            },
          };
          if (beams === 1) {
            runners.bare = async (round) => {
              for (const row of batchOf(round, size)) {
                await bareGreedy(
                  translator,
                  encode(row),
                  63,
                  options.decoderStartId,
                  new Set(options.eosIds),
                );
              }
            };
            runners.reference = async (round) => {
              const batch = batchOf(round, size).map(encode);
              const width = Math.max(...batch.map((ids) => ids.length));
              const pad = options.padId;
              const flat = batch.flatMap((ids) => [...ids, ...new Array(width - ids.length).fill(pad)]);
              const maskFlat = batch.flatMap((ids) => [
                ...ids.map(() => 1),
                ...new Array(width - ids.length).fill(0),
              ]);
              await model.generate({
                input_ids: new transformers.Tensor("int64", BigInt64Array.from(flat, BigInt), [
                  batch.length,
                  width,
                ]),
                attention_mask: new transformers.Tensor("int64", BigInt64Array.from(maskFlat, BigInt), [
                  batch.length,
                  width,
                ]),
                num_beams: 1,
                do_sample: false,
              } as never);
            };
          }
          const times: Record<string, number[]> = await timeInterleaved(ROUNDS, runners);
          const engine = times.engine ?? [];
          const viaWorker = times.worker ?? [];
          const bare = times.bare ?? [];
          const reference = times.reference ?? [];
          const perSecond = (times: number[]) =>
            times.length ? (size * 1000) / percentile(times, 50) : Number.NaN;
          const floor = perSecond(bare);
          const cell = (times: number[]) =>
            times.length ? `${perSecond(times).toFixed(1)} (${ratio(perSecond(times), floor)})` : "n/a";
          rows.push([
            `${dtype}, batch ${size}, ${beams === 1 ? "greedy" : "beam 4"}`,
            beams === 1 ? perSecond(bare).toFixed(1) : "n/a",
            cell(engine),
            cell(viaWorker),
            cell(reference),
            `${ms(percentile(viaWorker, 50))} / ${ms(percentile(viaWorker, 95))}`,
          ]);
        }
      }
      await model.dispose();
      lease.release();
    }
  } finally {
    await worker.close();
  }
  return [
    `### Translation: ${MODEL}, held-out phrases (English to Chinese, German, French)`,
    "",
    `Sentences per second (median of ${ROUNDS} rounds; the runners are timed interleaved, round by round, after an untimed pass; ratio to the bare loop, which runs greedy one sentence at a time). transformers.js has no beam search in generate(), so beam rows compare engine and worker only. The worker column sends one request per target language of the batch, concurrently.`,
    "",
    table(
      [
        "case",
        "bare ORT loop /s",
        "engine in Node /s",
        "worker /s",
        "transformers.js /s",
        "worker latency p50 / p95 ms",
      ],
      rows,
    ),
  ].join("\n");
}
