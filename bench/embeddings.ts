import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadTransformers, wasmOptions } from "../cli/lib/transformers.js";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker } from "../host/worker.js";
import type { Feeds } from "../src/runtime/session.js";
import { embed, openEncoder, tokenize } from "../src/tasks/encoder.js";
import { type KbManifest, kbKey, quantizeRows, search } from "../src/tasks/knowledge-base.js";
import { paddedBatch } from "../src/tasks/tensors.js";
import { ms, percentile, ratio, table, timeInterleaved, timeIt } from "./stats.js";

/**
 * Embeddings per second at batch 1 and 32 for the bundled encoders: this engine in Node, the
 * worker over HTTP, a bare onnxruntime-web loop (pre-tokenised, no pooling: the floor), and
 * transformers.js feature-extraction on the same folder; plus knowledge-base search latency.
 */
const ROUNDS_SINGLE = 40;
const ROUNDS_BATCH = 4;

async function sentences(): Promise<string[]> {
  const lines = (await readFile(join(MODELS_DIR, "..", "kb", "shop-faq.heldout.jsonl"), "utf8"))
    .trim()
    .split("\n");
  return lines.map((line) => (JSON.parse(line) as { query: string }).query);
}

function rate(batch: number, times: number[]) {
  const rounds = times.length;
  const total = times.reduce((a, b) => a + b, 0);
  return {
    perSecond: (rounds * batch * 1000) / total,
    p50: percentile(times, 50),
    p95: percentile(times, 95),
  };
}

export async function benchEmbeddings(only?: string[]): Promise<string> {
  const texts = await sentences();
  const pick = (round: number, size: number) =>
    Array.from({ length: size }, (_, i) => texts[(round * size + i) % texts.length] ?? "");
  const transformers = await loadTransformers(MODELS_DIR);
  const rows: string[][] = [];
  const models = ["intent-bert", "glove-static"].filter((id) => !only || only.includes(id));
  for (const id of models) {
    const store = new MemoryStore();
    await store.push(join(MODELS_DIR, id), id);
    const registry = nodeRegistry(store);
    const manifest = await registry.manifest(id);
    const worker = await startWorker({ budgetMb: 1024 });
    await worker.push(join(MODELS_DIR, id), id);
    try {
      for (const dtype of ["int8", "fp32"] as const) {
        process.stderr.write(`embeddings: ${id} ${dtype}\n`);
        const encoder = await openEncoder(registry, manifest, dtype);
        const extractor = await transformers.pipeline(
          "feature-extraction",
          id,
          wasmOptions(dtype === "int8" ? "q8" : "fp32") as never,
        );
        for (const size of [1, 32]) {
          const rounds = size === 1 ? ROUNDS_SINGLE : ROUNDS_BATCH;
          const pretokenised = Array.from({ length: rounds }, (_, round) =>
            tokenize(encoder.value, pick(round, size), true),
          );
          const { session } = encoder.value;
          const bareRun = async (round: number) => {
            const padded = paddedBatch(session.ort, pretokenised[round]?.ids ?? [], encoder.value.padId);
            const feeds: Feeds = { input_ids: padded.ids, attention_mask: padded.mask };
            if (session.hasInput("token_type_ids")) {
              feeds.token_type_ids = new session.ort.Tensor(
                "int64",
                new BigInt64Array(padded.maskData.length),
                [size, padded.length],
              );
            }
            return session.run(feeds);
          };
          const times = await timeInterleaved(
            rounds,
            {
              engine: async (round) => {
                const batch = tokenize(encoder.value, pick(round, size), true);
                return embed(encoder.value, batch.ids);
              },
              worker: async (round) => {
                const response = await worker.post("/v1/embeddings", {
                  model: `${id}:${dtype}`,
                  input: pick(round, size),
                });
                return response.json();
              },
              bare: bareRun,
              reference: (round) => extractor(pick(round, size), { pooling: "mean", normalize: true }),
            },
            0,
          );
          const engine = rate(size, times.engine);
          const viaWorker = rate(size, times.worker);
          const bare = rate(size, times.bare);
          const reference = rate(size, times.reference);
          rows.push([
            `${id} ${dtype}`,
            String(size),
            bare.perSecond.toFixed(0),
            `${engine.perSecond.toFixed(0)} (${ratio(engine.perSecond, bare.perSecond)})`,
            `${viaWorker.perSecond.toFixed(0)} (${ratio(viaWorker.perSecond, bare.perSecond)})`,
            `${reference.perSecond.toFixed(0)} (${ratio(reference.perSecond, bare.perSecond)})`,
            `${ms(viaWorker.p50)} / ${ms(viaWorker.p95)}`,
          ]);
        }
        encoder.release();
        await extractor.dispose();
      }
    } finally {
      await worker.close();
    }
  }
  const searchRows = await benchSearch(
    models.includes("intent-bert") ? "intent-bert" : (models[0] ?? "glove-static"),
  );
  return [
    "### Embeddings per second (higher is better; ratio to the bare onnxruntime-web loop)",
    "",
    "Inputs are the 96 held-out FAQ questions (English and Chinese); the four runners are timed interleaved, round by round, after an untimed pass. Bare: pre-tokenised ids straight into `session.run`, no pooling. Worker: HTTP round trips to the built worker in workerd. transformers.js: `pipeline('feature-extraction')` with mean pooling and normalisation, onnxruntime-web WASM, one thread.",
    "",
    table(
      [
        "model",
        "batch",
        "bare ORT /s",
        "engine in Node /s",
        "worker /s",
        "transformers.js /s",
        "worker latency p50 / p95 ms",
      ],
      rows,
    ),
    "",
    searchRows,
  ].join("\n");
}

async function benchSearch(model: string): Promise<string> {
  const count = 10_000;
  const worker = await startWorker({ budgetMb: 1024 });
  try {
    await worker.push(join(MODELS_DIR, model), model);
    const store = new MemoryStore();
    await store.push(join(MODELS_DIR, model), model);
    const registry = nodeRegistry(store);
    const encoder = await openEncoder(registry, await registry.manifest(model));
    const dims = (await embed(encoder.value, tokenize(encoder.value, ["x"], true).ids))[0]?.[0]?.length ?? 0;
    encoder.release();
    // Search cost depends on the count and width of the vectors, not their content: random unit rows.
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647 - 0.5;
    };
    const rows = Array.from({ length: count }, () => {
      const row = Float32Array.from({ length: dims }, random);
      const norm = Math.hypot(...row);
      return row.map((v) => v / norm);
    });
    const vectors = quantizeRows(rows, dims);
    const entries = new TextEncoder().encode(
      JSON.stringify(rows.map((_, i) => ({ id: String(i), text: `entry ${i}`, answer: `answer ${i}` }))),
    );
    const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
    const manifest: KbManifest = {
      schema_version: 1,
      id: "bench-10k",
      model,
      dimensions: dims,
      count,
      created_at: new Date().toISOString(),
      files: {
        vectors: { size: vectors.byteLength, sha256: sha(vectors) },
        entries: { size: entries.byteLength, sha256: sha(entries) },
      },
    };
    await worker.bucket.put(kbKey("bench-10k", "vectors.bin"), vectors);
    await worker.bucket.put(kbKey("bench-10k", "entries.json"), entries);
    await worker.bucket.put(
      kbKey("bench-10k", "manifest.json"),
      new TextEncoder().encode(JSON.stringify(manifest)),
    );

    const [coldMs] = await timeIt(() =>
      worker.post("/v1/kb/bench-10k/search", { query: "where is my parcel", top_k: 5 }).then((r) => r.json()),
    );
    const warm: number[] = [];
    for (let i = 0; i < 30; i++) {
      warm.push(
        (
          await timeIt(() =>
            worker.post("/v1/kb/bench-10k/search", { query: `refund ${i}`, top_k: 5 }).then((r) => r.json()),
          )
        )[0],
      );
    }
    const kb = {
      manifest,
      vectors: new Int8Array(vectors.buffer, count * 4),
      scales: new Float32Array(vectors.buffer.slice(0, count * 4)),
      entries: [],
    };
    const query = rows[0] ?? new Float32Array(dims);
    const scan: number[] = [];
    for (let i = 0; i < 30; i++) scan.push((await timeIt(async () => search(kb, query, 5)))[0]);
    return [
      `### Knowledge-base search, ${count} entries x ${dims} dims (int8 rows), embedder ${model}`,
      "",
      table(
        ["what", "p50 ms", "p95 ms"],
        [
          ["worker: first search (loads the KB from R2, starts the embedder)", ms(coldMs), ""],
          [
            "worker: warm search, end to end (embed query + scan + JSON)",
            ms(percentile(warm, 50)),
            ms(percentile(warm, 95)),
          ],
          ["Node: the scan alone", ms(percentile(scan, 50)), ms(percentile(scan, 95))],
        ],
      ),
      "",
      `Memory: the matrix is ${(vectors.byteLength / 1024 / 1024).toFixed(1)} MB (${dims} bytes + a 4-byte scale per entry), so about ${Math.floor((40 * 1024 * 1024) / (dims + 4)).toLocaleString("en")} entries fit in 40 MB of an isolate beside a model; a larger base belongs in Cloudflare Vectorize.`,
    ].join("\n");
  } finally {
    await worker.close();
  }
}
