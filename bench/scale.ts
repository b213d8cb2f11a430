import { execFile } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startWorker, type TestWorker } from "../host/worker.js";
import { chatModel, LADDER, type LadderModel, ladderModel, NBITS_FILE } from "./scale-models.js";
import { lineChartsSvg, svgToPng } from "./scale-plot.js";
import { type InterleavedResult, PROMPT_TEXT, type ProbeResult } from "./scale-probe.js";
import { mb, ms, ratio, table } from "./stats.js";

/**
 * The scale ladder: the bundled chat model and Llama-shaped int8 models of about 15, 30, 60 and 90 MB
 * (bench/scale-models.ts), each loaded and decoded (prefill 64, then 32 greedy steps with the KV cache)
 * by onnxruntime-web from the ORT-format copy read in place (as the worker loads it), the engine
 * (src/, in Node), native onnxruntime-node (one thread), transformers.js v4 on onnxruntime-web (with
 * our int8 file as its q8, and with the q8 file its own conversion script makes), onnxruntime-web on
 * the 8-bit MatMulNBits file of the same weights and on the fp32 file. Every measurement is a fresh
 * process (bench/scale-probe.ts); the runners take turns, round by round, and each keeps its faster
 * round. Then each model that fits the 128 MB accounting is pushed to a fresh worker in workerd and
 * streamed (cold first token, then decode), and the next one up is refused by the budget before it
 * loads.
 */
const PROMPT = 64;
const STEPS = 32;
const ROUNDS = 2;
const MIB = 1024 * 1024;
/**
 * The worker's defaults (src/env.ts, which only the worker's own tsconfig compiles): 16 MB of ORT's own,
 * 80 of models, 16 for the largest run; the rest of 128 MB is the JS heap's.
 */
const DEFAULT_BUDGET_MB = 80;
const DEFAULT_RUN_MEMORY_MB = 16;
const WASM_LIMIT_MB = 128 - 16;

interface Runner {
  name: string;
  kind: string;
  file: string;
  folder: (model: LadderModel) => string;
}

const all = (model: LadderModel) => model.folder;
const RUNNERS: Runner[] = [
  { name: "int8 onnxruntime-web", kind: "web-ort", file: "onnx/model_quantized.ort", folder: all },
  { name: "int8 engine (Node)", kind: "engine", file: "int8", folder: (model) => model.serveFolder },
  { name: "int8 onnxruntime-node (native)", kind: "native", file: "onnx/model_quantized.onnx", folder: all },
  { name: "int8 transformers.js (our file)", kind: "transformers", file: "q8", folder: all },
  {
    name: "transformers.js own q8",
    kind: "transformers",
    file: "q8",
    folder: (model) => model.transformersFolder,
  },
  { name: "fp32 onnxruntime-web", kind: "web-onnx", file: "onnx/model.onnx", folder: all },
];

const probeScript = fileURLToPath(new URL("./scale-probe.ts", import.meta.url));

async function runProbe(kind: string, folder: string, file: string): Promise<unknown> {
  const args = [
    // the probe collects garbage before it takes its memory baseline
    "--expose-gc",
    "--import",
    "tsx",
    probeScript,
    kind,
    folder,
    file,
    String(PROMPT),
    String(STEPS),
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 24 });
  // NaN travels as null in JSON
  return JSON.parse(stdout, (_, value) => (value === null ? Number.NaN : value));
}

async function probe(model: LadderModel, runner: Runner): Promise<ProbeResult> {
  return (await runProbe(runner.kind, runner.folder(model), runner.file)) as ProbeResult;
}

/** Our int8 file, the MatMulNBits one and fp32, stepped in turn in one process (see scale-probe.ts). */
const INTERLEAVED = ["onnx/model_quantized.ort", NBITS_FILE, "onnx/model.onnx"] as const;

type Interleaved = InterleavedResult[number];

async function probeInterleaved(model: LadderModel): Promise<InterleavedResult> {
  return (await runProbe("interleaved", model.folder, INTERLEAVED.join(","))) as InterleavedResult;
}

type DecodeSpeeds = Pick<
  ProbeResult,
  "decodeTokensPerSecond" | "decodeTokensPerSecondP10" | "decodeTokensPerSecondMean"
>;

/** Two rounds' decode speeds, the faster of each (a busy machine only ever slows a round). */
function fasterDecode(a: DecodeSpeeds, b: DecodeSpeeds): DecodeSpeeds {
  return {
    decodeTokensPerSecond: Math.max(a.decodeTokensPerSecond, b.decodeTokensPerSecond),
    decodeTokensPerSecondP10: Math.max(a.decodeTokensPerSecondP10, b.decodeTokensPerSecondP10),
    decodeTokensPerSecondMean: Math.max(a.decodeTokensPerSecondMean, b.decodeTokensPerSecondMean),
  };
}

function bestInterleaved(a: Interleaved | undefined, b: Interleaved): Interleaved {
  return a ? { ...a, ...fasterDecode(a, b) } : b;
}

function best(a: ProbeResult | undefined, b: ProbeResult): ProbeResult {
  if (!a) return b;
  return {
    ...a,
    loadMs: Math.min(a.loadMs, b.loadMs),
    prefillMs: Math.min(a.prefillMs, b.prefillMs),
    ...fasterDecode(a, b),
    firstTokenMs: Math.min(a.firstTokenMs, b.firstTokenMs),
    // the higher peak: GC timing only ever hides memory
    ...(b.peakLoadBytes > a.peakLoadBytes
      ? { peakLoadBytes: b.peakLoadBytes, peakLoadJsBytes: b.peakLoadJsBytes }
      : {}),
  };
}

interface Rung {
  model: LadderModel;
  int8Bytes: number;
  fp32Bytes: number;
  nbitsBytes: number;
  transformersQ8Bytes: number;
  results: Map<string, ProbeResult>;
  /** By file name (INTERLEAVED). */
  interleaved: Map<string, Interleaved>;
}

/** Inside the accounting: the measured load within the model budget, and ORT's peak within 112 MB. */
function fits(rung: Rung): boolean {
  const web = rung.results.get(RUNNERS[0]?.name ?? "");
  if (!web) return false;
  const peak = web.wasmAfterLoadBytes + web.decodeGrowthBytes;
  return web.loadGrowthBytes <= DEFAULT_BUDGET_MB * MIB && peak <= WASM_LIMIT_MB * MIB;
}

interface Streamed {
  status: number;
  /** From sending the request to the first content chunk. */
  firstMs: number;
  promptTokens: number;
  completionTokens: number;
  /**
   * Generated tokens after the first over the time from the first content chunk to the last. No
   * percentile: several events often arrive in one read, so the gaps between chunks are not steps.
   */
  decodeMean: number;
  error?: { code?: string; message?: string };
}

/** A streamed completion, EOS banned (it always runs `STEPS` tokens), timed by the client. */
async function stream(worker: TestWorker, model: string, maxTokens = STEPS): Promise<Streamed> {
  const started = performance.now();
  const response = await worker.post("/v1/completions", {
    model,
    prompt: PROMPT_TEXT,
    max_tokens: maxTokens,
    stream: true,
    stream_options: { include_usage: true },
    logit_bias: { "2": -100 },
  });
  if (response.status !== 200) {
    const { error } = (await response.json()) as { error?: Streamed["error"] };
    const none = Number.NaN;
    return {
      status: response.status,
      firstMs: none,
      promptTokens: none,
      completionTokens: none,
      decodeMean: none,
      error,
    };
  }
  // Server-sent events: one JSON chunk per `data:` event; the time an event arrives is its token's time.
  const times: number[] = [];
  let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of response.body ?? []) {
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    const events = buffer.split("\n\n");
    buffer = events.pop() ?? "";
    for (const event of events) {
      const data = event.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data) as { choices: { text: string }[]; usage?: typeof usage };
      if (chunk.choices.some((choice) => choice.text !== "")) times.push(performance.now());
      if (chunk.usage) usage = chunk.usage;
    }
  }
  const completionTokens = usage?.completion_tokens ?? Number.NaN;
  const first = times[0] ?? Number.NaN;
  const last = times.at(-1) ?? Number.NaN;
  return {
    status: response.status,
    firstMs: first - started,
    promptTokens: usage?.prompt_tokens ?? Number.NaN,
    completionTokens,
    decodeMean: ((completionTokens - 1) * 1000) / (last - first),
  };
}

interface WorkerResult {
  cold: Streamed;
  /** The faster of the warm streams (by mean decode speed). */
  warm: Streamed;
  wasmBytes: number;
}

/**
 * The built worker in workerd with the default budget, fresh for each model: `models:push` of the
 * int8 serve folder, a cold streamed request (its first chunk is the cold time to first token: the
 * store read, session creation, prefill), then warm streamed requests for the decode speed.
 */
async function viaWorker(model: LadderModel): Promise<WorkerResult> {
  process.stderr.write(`scale: workerd, ${model.label} (budget ${DEFAULT_BUDGET_MB} MB)\n`);
  const worker = await startWorker({ budgetMb: DEFAULT_BUDGET_MB, runMemoryMb: DEFAULT_RUN_MEMORY_MB });
  try {
    await worker.push(model.serveFolder, "ladder");
    const cold = await stream(worker, "ladder:int8");
    let warm = await stream(worker, "ladder:int8");
    for (let round = 1; round < ROUNDS; round++) {
      const next = await stream(worker, "ladder:int8");
      if (next.decodeMean > warm.decodeMean) warm = next;
    }
    const stats = (await (await worker.fetch("/v1/stats")).json()) as { ort: { wasm_memory_bytes: number } };
    return { cold, warm, wasmBytes: stats.ort.wasm_memory_bytes };
  } finally {
    await worker.close();
  }
}

/** The next model up, pushed to a fresh worker with the default budget: refused before it loads? */
async function refusal(model: LadderModel): Promise<string> {
  process.stderr.write(`scale: workerd, ${model.label} refused?\n`);
  const worker = await startWorker({ budgetMb: DEFAULT_BUDGET_MB, runMemoryMb: DEFAULT_RUN_MEMORY_MB });
  try {
    await worker.push(model.serveFolder, "ladder-outside");
    const result = await stream(worker, "ladder-outside:int8", 1);
    const stats = (await (await worker.fetch("/v1/stats")).json()) as { ort: { wasm_memory_bytes: number } };
    return `- ${model.label}, the next one up, in a fresh worker with the default budget: HTTP ${result.status} \`${result.error?.code ?? "none"}\` (${result.error?.message ?? ""}); ORT wasm memory afterwards ${mb(stats.ort.wasm_memory_bytes)} MB.`;
  } finally {
    await worker.close();
  }
}

export async function benchScale(): Promise<string> {
  const began = performance.now();
  const models = [await chatModel()];
  for (const size of LADDER) models.push(await ladderModel(size));
  const size = async (path: string) => (await stat(path)).size;
  const rungs: Rung[] = [];
  for (const model of models) {
    rungs.push({
      model,
      int8Bytes: await size(join(model.folder, "onnx", "model_quantized.onnx")),
      fp32Bytes: await size(join(model.folder, "onnx", "model.onnx")),
      nbitsBytes: await size(join(model.folder, NBITS_FILE)),
      transformersQ8Bytes: await size(join(model.transformersFolder, "onnx", "model_quantized.onnx")),
      results: new Map(),
      interleaved: new Map(),
    });
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const rung of rungs) {
      for (const runner of RUNNERS) {
        process.stderr.write(`scale: round ${round}, ${rung.model.label}, ${runner.name}\n`);
        rung.results.set(runner.name, best(rung.results.get(runner.name), await probe(rung.model, runner)));
      }
      process.stderr.write(
        `scale: round ${round}, ${rung.model.label}, interleaved int8 / MatMulNBits / fp32\n`,
      );
      for (const result of await probeInterleaved(rung.model)) {
        rung.interleaved.set(result.file, bestInterleaved(rung.interleaved.get(result.file), result));
      }
    }
  }

  const [web, engine, native, transformers, transformersOwn, fp32] = RUNNERS.map((runner) => runner.name) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const [ourFile, nbitsFile, fp32File] = INTERLEAVED;
  const missingInterleaved: Interleaved = {
    file: "",
    loadGrowthBytes: Number.NaN,
    prefillMs: Number.NaN,
    decodeTokensPerSecond: Number.NaN,
    decodeTokensPerSecondP10: Number.NaN,
    decodeTokensPerSecondMean: Number.NaN,
  };
  const turn = (rung: Rung, file: string) => rung.interleaved.get(file) ?? missingInterleaved;
  const versusInTurn = (rung: Rung, file: string) => {
    const ours = turn(rung, ourFile);
    const other = turn(rung, file);
    return `${ratio(ours.decodeTokensPerSecond, other.decodeTokensPerSecond)} / ${ratio(ours.decodeTokensPerSecondP10, other.decodeTokensPerSecondP10)}`;
  };
  const missing: ProbeResult = {
    loadMs: Number.NaN,
    wasmAfterLoadBytes: Number.NaN,
    loadGrowthBytes: Number.NaN,
    decodeGrowthBytes: Number.NaN,
    prefillMs: Number.NaN,
    decodeTokensPerSecond: Number.NaN,
    decodeTokensPerSecondP10: Number.NaN,
    decodeTokensPerSecondMean: Number.NaN,
    peakLoadBytes: Number.NaN,
    peakLoadJsBytes: Number.NaN,
    firstTokenMs: Number.NaN,
    promptTokens: Number.NaN,
  };
  const at = (rung: Rung, name: string) => rung.results.get(name) ?? missing;
  const wasmPeak = (result: ProbeResult) => result.wasmAfterLoadBytes + result.decodeGrowthBytes;
  const peak = (result: ProbeResult) => `${mb(result.peakLoadBytes)} (${mb(result.peakLoadJsBytes)} JS)`;
  const speed = (result: Pick<ProbeResult, "decodeTokensPerSecond" | "decodeTokensPerSecondP10">) =>
    `${result.decodeTokensPerSecond.toFixed(1)} / ${result.decodeTokensPerSecondP10.toFixed(1)}`;

  const memoryRows = rungs.map((rung) => {
    const w = at(rung, web);
    return [
      rung.model.label,
      (rung.model.parameters / 1e6).toFixed(1),
      mb(rung.int8Bytes),
      ms(w.loadMs),
      `${mb(w.loadGrowthBytes)} (${ratio(w.loadGrowthBytes, rung.int8Bytes)})`,
      mb(w.decodeGrowthBytes),
      mb(wasmPeak(w)),
      peak(w),
      peak(at(rung, engine)),
      fits(rung) ? "yes" : "no",
    ];
  });
  const speedRows = rungs.map((rung) => {
    const w = at(rung, web);
    const versus = (name: string) => {
      const other = at(rung, name);
      return `${ratio(w.decodeTokensPerSecond, other.decodeTokensPerSecond)} / ${ratio(w.decodeTokensPerSecondP10, other.decodeTokensPerSecondP10)}`;
    };
    return [
      rung.model.label,
      mb(rung.int8Bytes),
      ms(w.prefillMs),
      speed(w),
      `${((w.decodeTokensPerSecond * rung.int8Bytes) / 1e9).toFixed(2)}`,
      versus(fp32),
      versusInTurn(rung, fp32File),
      versusInTurn(rung, nbitsFile),
      versus(native),
      versus(transformers),
      versus(transformersOwn),
    ];
  });
  const runnerRows = rungs.map((rung) => [
    rung.model.label,
    ...RUNNERS.map((runner) => speed(at(rung, runner.name))),
    ...INTERLEAVED.map((file) => speed(turn(rung, file))),
  ]);
  const fileRows = rungs.map((rung) => [
    rung.model.label,
    mb(rung.int8Bytes),
    mb(rung.nbitsBytes),
    mb(rung.transformersQ8Bytes),
    mb(rung.fp32Bytes),
    mb(turn(rung, nbitsFile).loadGrowthBytes),
    mb(wasmPeak(at(rung, transformers))),
    mb(wasmPeak(at(rung, transformersOwn))),
    mb(wasmPeak(at(rung, fp32))),
    ms(at(rung, fp32).loadMs),
  ]);

  const inside = rungs.filter(fits);
  const largest = inside.at(-1);
  const outside = largest ? rungs[rungs.indexOf(largest) + 1] : undefined;
  const served = new Map<Rung, WorkerResult>();
  for (const rung of inside) served.set(rung, await viaWorker(rung.model));
  const refused = outside ? [await refusal(outside.model)] : [];
  const servingRows = rungs.map((rung) => {
    const e = at(rung, engine);
    const w = served.get(rung);
    const cells = w
      ? [
          `${w.cold.status}`,
          ms(w.cold.firstMs),
          w.warm.decodeMean.toFixed(1),
          ratio(w.warm.decodeMean, e.decodeTokensPerSecondMean),
          `${w.warm.promptTokens} + ${w.warm.completionTokens}`,
          mb(w.wasmBytes),
        ]
      : ["not run (outside the accounting)", "", "", "", "", ""];
    return [
      rung.model.label,
      ms(e.firstTokenMs),
      `${e.decodeTokensPerSecondMean.toFixed(1)} / ${e.decodeTokensPerSecondP10.toFixed(1)}`,
      `${ratio(e.decodeTokensPerSecond, at(rung, web).decodeTokensPerSecond)} / ${ratio(e.decodeTokensPerSecondP10, at(rung, web).decodeTokensPerSecondP10)}`,
      ...cells,
    ];
  });

  const x = (rung: Rung) => rung.int8Bytes / MIB;
  const svg = lineChartsSvg([
    {
      title: `Decode tokens/s, p10 step (prefill ${PROMPT}, ${STEPS} steps, batch 1)`,
      xLabel: "int8 file MB",
      yLabel: "tokens/s",
      legend: "right",
      logY: true,
      series: [
        ["#1f77b4", web],
        ["#17becf", engine],
        ["#2ca02c", native],
        ["#ff7f0e", transformersOwn],
        ["#7f7f7f", fp32],
      ]
        .map(([color, name]) => ({
          name: name as string,
          color: color as string,
          points: rungs.map((rung): [number, number] => [
            x(rung),
            at(rung, name as string).decodeTokensPerSecondP10,
          ]),
        }))
        .concat({
          name: "MatMulNBits 8-bit web (in turn)",
          color: "#d62728",
          points: rungs.map((rung): [number, number] => [
            x(rung),
            turn(rung, nbitsFile).decodeTokensPerSecondP10,
          ]),
        }),
    },
    {
      title: "Memory: ORT wasm after decode; peak JS + wasm while loading",
      xLabel: "int8 file MB",
      yLabel: "MB",
      series: [
        {
          name: "int8 wasm after decode (ORT copy in place)",
          color: "#1f77b4",
          value: (rung: Rung) => wasmPeak(at(rung, web)),
        },
        {
          name: "int8 engine: peak JS + wasm while loading",
          color: "#17becf",
          value: (rung: Rung) => at(rung, engine).peakLoadBytes,
        },
        {
          name: "transformers.js own q8: wasm after decode",
          color: "#ff7f0e",
          value: (rung: Rung) => wasmPeak(at(rung, transformersOwn)),
        },
      ].map(({ name, color, value }) => ({
        name,
        color,
        points: rungs.map((rung): [number, number] => [x(rung), value(rung) / MIB]),
      })),
      lines: [
        { y: 128, label: "128 MB isolate" },
        { y: WASM_LIMIT_MB, label: `${WASM_LIMIT_MB} MB: the isolate less 16 MB of JS`, anchor: "start" },
      ],
    },
  ]);
  await writeFile(new URL("./results/scale.svg", import.meta.url), svg);
  await writeFile(new URL("./results/scale.png", import.meta.url), svgToPng(svg));
  const minutes = (performance.now() - began) / 60_000;

  return [
    "### Scale ladder: Llama-shaped int8 models (random weights) and the bundled chat model",
    "",
    `Prefill ${PROMPT} tokens, then ${STEPS} greedy decode steps with the KV cache, batch 1; each runner in a fresh process, ${ROUNDS} rounds taken in turn; this run took ${minutes.toFixed(0)} minutes (models already built). int8 files are \`models:quantize\`'s (per-row activations, MatMulIntegerToFloat); onnxruntime-web loads the ORT-format copy in place, as the worker does. The MatMulNBits file is onnxruntime's MatMulNBitsQuantizer at bits=8 (block 128, symmetric; the embedding stays float: the tool quantizes Gather to 4 bits only); transformers.js's own q8 is what its conversion script (scripts/quantize.py, q8) makes: onnxruntime's dynamic quantization, int8 weights per tensor, uint8 activations (bench/scale/make_variants.py). Decode tokens/s come from the median (p50) and 10th-percentile (p10) decode step of the faster round: on a shared machine a preempted step only adds time, so p10 shows a runner's own cost more steadily. Ratios are int8 onnxruntime-web's decode tokens/s over the other runner's (above 1.00x, ours is faster). "In turn": our int8 file (ORT copy), the MatMulNBits file and fp32 loaded in one process and decoded one step of each in turn, so load on the machine falls on all three alike; the other runners are separate processes minutes apart.`,
    "",
    `Memory. "wasm" is ORT's wasm memory (none for native). "Peak JS + wasm while loading" is the largest (V8 heap used + ArrayBuffers, less their value just before the load, after a full garbage collection) + ORT's wasm memory, read from \`process.memoryUsage()\` every millisecond the event loop is free and right after each growth of ORT's memory (\`WebAssembly.Memory.prototype.grow\` wrapped: the growth happens inside synchronous wasm calls); the bare runner reads the ORT file from disk, the engine reads it from an in-memory store as the worker reads it from R2 (a fresh copy per read). "fits" = load growth within the ${DEFAULT_BUDGET_MB} MB model budget and wasm memory after decode within ${WASM_LIMIT_MB} MB (128 MB less a 16 MB JS heap).`,
    "",
    table(
      [
        "model",
        "params M",
        "int8 MB",
        "load ms",
        "wasm growth on load MB (/ file)",
        "growth in decode MB",
        "wasm after decode MB",
        "peak JS + wasm while loading MB, bare",
        "same, engine",
        "fits 128 MB",
      ],
      memoryRows,
    ),
    "",
    table(
      [
        "model",
        "int8 MB",
        `prefill ${PROMPT} ms`,
        "decode tok/s p50 / p10",
        "weight GB/s",
        "vs fp32 web p50 / p10",
        "vs fp32 web, in turn p50 / p10",
        "vs MatMulNBits 8-bit, in turn p50 / p10",
        "vs native p50 / p10",
        "vs transformers.js (our file) p50 / p10",
        "vs transformers.js own q8 p50 / p10",
      ],
      speedRows,
    ),
    "",
    "Decode tokens/s by runner (p50 / p10 step):",
    "",
    table(
      [
        "model",
        ...RUNNERS.map((runner) => runner.name),
        "in turn: int8",
        "in turn: MatMulNBits 8-bit",
        "in turn: fp32",
      ],
      runnerRows,
    ),
    "",
    "The other files of the same weights, and what they cost in wasm memory after decode (MB):",
    "",
    table(
      [
        "model",
        "int8 (ours) MB",
        "MatMulNBits 8-bit MB",
        "transformers.js q8 MB",
        "fp32 MB",
        "MatMulNBits wasm growth on load",
        "transformers.js (our file) wasm",
        "transformers.js own q8 wasm",
        "fp32 web wasm",
        "fp32 web load ms",
      ],
      fileRows,
    ),
    "",
    `Engine and worker. The engine (src/ in Node) and the built worker in workerd (Miniflare, default budget: ${DEFAULT_BUDGET_MB} MB of models, ${DEFAULT_RUN_MEMORY_MB} MB per run; a fresh worker per model, \`models:push\` of the int8 file alone) generate from the same ${PROMPT}-token text prompt, EOS banned. Cold first token: from opening the model (engine) or sending the first request (worker) to the first token, store read, ORT start, session creation and prefill included (the engine in Node also compiles ORT's wasm there, which wrangler precompiles for the worker). Decode: the engine's steps over their total time ("mean") and its p10 step; the worker's tokens after the first over the time between the first and last streamed chunk ("mean"; several events often arrive in one read, so there is no per-step percentile), best of ${ROUNDS} warm requests. The worker runs only the models inside the accounting.`,
    "",
    table(
      [
        "model",
        "engine cold first token ms",
        "engine decode tok/s mean / p10",
        "engine vs bare loop p50 / p10",
        "worker HTTP",
        "worker cold first token ms",
        "worker streamed decode tok/s mean",
        "worker vs engine mean",
        "worker prompt + generated tokens",
        "worker wasm after MB",
      ],
      servingRows,
    ),
    "",
    ...(largest
      ? [`Largest inside the accounting: ${largest.model.label}.`]
      : ["No model fits the accounting."]),
    ...refused,
    "",
    "![decode tokens/s and memory against int8 model size](scale.png)",
  ].join("\n");
}
