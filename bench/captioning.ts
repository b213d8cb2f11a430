import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Tensor } from "onnxruntime-web/wasm";
import { loadTransformers, wasmOptions } from "../cli/lib/transformers.js";
import { nodeImageCodecs } from "../host/image-codecs.js";
import { MODELS_DIR } from "../host/paths.js";
import { DEFAULT_MAX_PIXELS } from "../src/image/decode.js";
import type { Feeds } from "../src/runtime/session.js";
import { type Captioner, caption, imageBatch, openCaptioner } from "../src/tasks/captioning.js";
import { emptyCache } from "../src/tasks/tensors.js";
import { prepareModel } from "./setup.js";
import { mb, ms, percentile, ratio, table, timeInterleaved } from "./stats.js";

/**
 * Images per second and time to first token for the bundled captioner (greedy, held-out scene PNGs):
 * the engine in Node, a bare onnxruntime-web loop (same decoding and preprocessing, encoder then merged
 * decoder with its cache, argmax), the worker (/v1/caption) and transformers.js's image-to-text
 * pipeline (its own decoding and resize) on the same folder; and the ORT memory the captioner adds to
 * a worker isolate.
 */
const MODEL = "captioner";
const ROUNDS = 6;
const MAX_TOKENS = 40;

async function bareGreedy(
  captioner: Captioner,
  png: Uint8Array,
  maxNewTokens: number,
  start: number,
  eos: number,
) {
  const { encoder, decoder, layout } = captioner.model;
  const { ort } = encoder;
  const pixels = await imageBatch(captioner, [png], nodeImageCodecs, {
    maxPixels: DEFAULT_MAX_PIXELS,
    param: () => "",
  });
  const encoded = await encoder.run({ pixel_values: pixels });
  let past: Feeds = {};
  for (let layer = 0; layer < layout.layers; layer++) {
    for (const kind of ["key", "value"]) {
      past[`past_key_values.${layer}.${kind}`] = emptyCache(
        ort,
        layout.cacheType,
        1,
        layout.heads,
        layout.headDim,
      );
    }
  }
  let token = start;
  for (let step = 0; step < maxNewTokens; step++) {
    const outputs = await decoder.run({
      ...past,
      input_ids: new ort.Tensor("int64", BigInt64Array.from([BigInt(token)]), [1, 1]),
      encoder_hidden_states: encoded.last_hidden_state as Tensor,
      use_cache_branch: new ort.Tensor("bool", new Uint8Array([step > 0 ? 1 : 0]), [1]),
    });
    const data = (outputs.logits as Tensor).data as Float32Array;
    let best = 0;
    for (let i = 1; i < data.length; i++) if ((data[i] ?? 0) > (data[best] ?? 0)) best = i;
    token = best;
    past = {};
    for (const [name, tensor] of Object.entries(outputs)) {
      if (name.startsWith("present.")) past[name.replace("present.", "past_key_values.")] = tensor as Tensor;
    }
    if (token === eos) break;
  }
}

type Runner = (round: number) => Promise<unknown>;

export async function benchCaptioning(only?: string[]): Promise<string> {
  if (only && !only.includes(MODEL)) return "";
  const dir = join(MODELS_DIR, "recipes", MODEL, "heldout");
  const pngs = await Promise.all(
    Array.from({ length: 64 }, (_, i) => readFile(join(dir, `${String(i).padStart(3, "0")}.png`))),
  );
  const paths = pngs.map((_, i) => join(dir, `${String(i).padStart(3, "0")}.png`));
  const batchOf = (round: number, size: number) =>
    Array.from({ length: size }, (_, i) => (round * size + i) % pngs.length);
  const dataUrl = (i: number) => `data:image/png;base64,${(pngs[i] as Buffer).toString("base64")}`;

  const { registry, manifest, worker } = await prepareModel(MODEL);
  const transformers = await loadTransformers(MODELS_DIR);
  const rows: string[][] = [];
  const memory: string[][] = [];
  try {
    for (const dtype of ["int8", "fp32"] as const) {
      process.stderr.write(`captioning: ${dtype}\n`);
      const stats = async () =>
        ((await (await worker.fetch("/v1/stats")).json()) as { ort: { wasm_memory_bytes: number } }).ort
          .wasm_memory_bytes;
      const before = await stats();
      await worker.post("/v1/caption", { model: `${MODEL}:${dtype}`, images: [dataUrl(0)] });
      memory.push([dtype, mb(before), mb((await stats()) - before)]);

      const lease = await openCaptioner(registry, manifest, dtype);
      const captioner = lease.value;
      const start = captioner.assets.generation.decoder_start_token_id ?? 1;
      const eos = 2;
      const pipe = await transformers.pipeline(
        "image-to-text",
        MODEL,
        wasmOptions(dtype === "int8" ? "q8" : "fp32") as never,
      );
      for (const [label, size, maxTokens] of [
        ["batch 1", 1, MAX_TOKENS],
        ["batch 8", 8, MAX_TOKENS],
        ["first token, batch 1", 1, 1],
      ] as const) {
        const runners: Record<string, Runner> = {
          bare: async (round) => {
            for (const i of batchOf(round, size))
              await bareGreedy(captioner, pngs[i] as Buffer, maxTokens, start, eos);
          },
          engine: async (round) => {
            const pixels = await imageBatch(
              captioner,
              batchOf(round, size).map((i) => pngs[i] as Buffer),
              nodeImageCodecs,
              { maxPixels: DEFAULT_MAX_PIXELS, param: () => "" },
            );
            return caption(captioner, { pixels, maxTokens, numBeams: 1 });
          },
          worker: async (round) => {
            const response = await worker.post("/v1/caption", {
              model: `${MODEL}:${dtype}`,
              images: batchOf(round, size).map(dataUrl),
              max_tokens: maxTokens,
            });
            return response.json();
          },
          transformers: (round) =>
            pipe(
              batchOf(round, size).map((i) => paths[i] as string),
              { max_new_tokens: maxTokens } as never,
            ),
        };
        const times: Record<string, number[]> = await timeInterleaved(ROUNDS, runners);
        const median = (name: string) => percentile(times[name] ?? [], 50);
        const floor = median("bare");
        if (maxTokens === 1) {
          const cell = (name: string) => `${ms(median(name))} (${ratio(median(name), floor)})`;
          rows.push([
            `${dtype}, ${label}`,
            "ms",
            ms(floor),
            cell("engine"),
            cell("worker"),
            cell("transformers"),
          ]);
        } else {
          const perSecond = (name: string) => (size * 1000) / median(name);
          const cell = (name: string) =>
            `${perSecond(name).toFixed(1)} (${ratio(perSecond(name), perSecond("bare"))})`;
          rows.push([
            `${dtype}, ${label}`,
            "images/s",
            perSecond("bare").toFixed(1),
            cell("engine"),
            cell("worker"),
            cell("transformers"),
          ]);
        }
      }
      await pipe.dispose();
      lease.release();
    }
  } finally {
    await worker.close();
  }
  return [
    `### Captioning: ${MODEL}, held-out scene PNGs (192 x 192), greedy, up to ${MAX_TOKENS} tokens`,
    "",
    `Median of ${ROUNDS} rounds, runners timed interleaved after an untimed pass; ratios to the bare loop (one image at a time; for time to first token the ratio is of times, lower is faster). The bare loop, the engine and the worker decode the PNG and preprocess with src/image; transformers.js reads the file with its own decoder and resize (sharp).`,
    "",
    table(["case", "unit", "bare ORT loop", "engine in Node", "worker", "transformers.js"], rows),
    "",
    "ORT wasm memory of the worker isolate before the captioner's first request and what that request added (int8 loaded first, then fp32 beside it):",
    "",
    table(["variant", "isolate before MB", "added MB"], memory),
  ].join("\n");
}
