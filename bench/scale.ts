import { execFile } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startWorker } from "../host/worker.js";
import { chatModel, LADDER, type LadderModel, ladderModel } from "./scale-models.js";
import { lineChartsSvg } from "./scale-plot.js";
import type { ProbeResult } from "./scale-probe.js";
import { mb, ms, ratio, table } from "./stats.js";

/**
 * The scale ladder: the bundled chat model and Llama-shaped int8 models of about 15, 30, 60 and 90 MB
 * (bench/scale-models.ts), each loaded and decoded (prefill 64, then 32 greedy steps with the KV cache)
 * by onnxruntime-web from the ORT-format copy read in place (as the worker loads it), native
 * onnxruntime-node (one thread), transformers.js v4 on onnxruntime-web (the same int8 file as its q8),
 * and onnxruntime-web on the fp32 file. Every measurement is a fresh process (bench/scale-probe.ts);
 * the runners take turns, round by round, and each keeps its faster round. Then the largest model
 * that fits the 128 MB accounting is pushed to a worker in workerd, generates, and the next one up is
 * refused by the budget before it loads.
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
}

const RUNNERS: Runner[] = [
  { name: "int8 onnxruntime-web", kind: "web-ort", file: "onnx/model_quantized.ort" },
  { name: "int8 onnxruntime-node (native)", kind: "native", file: "onnx/model_quantized.onnx" },
  { name: "int8 transformers.js", kind: "transformers", file: "q8" },
  { name: "fp32 onnxruntime-web", kind: "web-onnx", file: "onnx/model.onnx" },
];

const probeScript = fileURLToPath(new URL("./scale-probe.ts", import.meta.url));

async function probe(model: LadderModel, runner: Runner): Promise<ProbeResult> {
  const args = [
    "--import",
    "tsx",
    probeScript,
    runner.kind,
    model.folder,
    runner.file,
    String(PROMPT),
    String(STEPS),
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 24 });
  // NaN travels as null in JSON
  return JSON.parse(stdout, (_, value) => (value === null ? Number.NaN : value)) as ProbeResult;
}

function best(a: ProbeResult | undefined, b: ProbeResult): ProbeResult {
  if (!a) return b;
  return {
    ...a,
    loadMs: Math.min(a.loadMs, b.loadMs),
    prefillMs: Math.min(a.prefillMs, b.prefillMs),
    decodeTokensPerSecond: Math.max(a.decodeTokensPerSecond, b.decodeTokensPerSecond),
    decodeTokensPerSecondP10: Math.max(a.decodeTokensPerSecondP10, b.decodeTokensPerSecondP10),
  };
}

interface Rung {
  model: LadderModel;
  int8Bytes: number;
  fp32Bytes: number;
  results: Map<string, ProbeResult>;
}

/** Inside the accounting: the measured load within the model budget, and ORT's peak within 112 MB. */
function fits(rung: Rung): boolean {
  const web = rung.results.get(RUNNERS[0]?.name ?? "");
  if (!web) return false;
  const peak = web.wasmAfterLoadBytes + web.decodeGrowthBytes;
  return web.loadGrowthBytes <= DEFAULT_BUDGET_MB * MIB && peak <= WASM_LIMIT_MB * MIB;
}

async function workerdCheck(inside: LadderModel, outside: LadderModel | undefined): Promise<string[]> {
  process.stderr.write(`scale: workerd, ${inside.label} (budget ${DEFAULT_BUDGET_MB} MB)\n`);
  const worker = await startWorker({ budgetMb: DEFAULT_BUDGET_MB, runMemoryMb: DEFAULT_RUN_MEMORY_MB });
  const lines: string[] = [];
  try {
    await worker.push(inside.serveFolder, "ladder-inside");
    const prompt = "Where is my order A1234567? It has been a week and I would like to know. ".repeat(4);
    const response = await worker.post("/v1/completions", {
      model: "ladder-inside",
      prompt,
      max_tokens: STEPS,
      logit_bias: { "2": -100 },
    });
    const body = (await response.json()) as { usage?: { prompt_tokens: number; completion_tokens: number } };
    const stats = (await (await worker.fetch("/v1/stats")).json()) as { ort: { wasm_memory_bytes: number } };
    const wasm = stats.ort.wasm_memory_bytes;
    lines.push(
      `- ${inside.label} (the largest inside the accounting) in workerd with the default budget (${DEFAULT_BUDGET_MB} MB models, ${DEFAULT_RUN_MEMORY_MB} MB per run): HTTP ${response.status}, ${body.usage?.prompt_tokens ?? "?"} prompt + ${body.usage?.completion_tokens ?? "?"} generated tokens; ORT wasm memory afterwards ${mb(wasm)} MB (${wasm <= WASM_LIMIT_MB * MIB ? "within" : "over"} the ${WASM_LIMIT_MB} MB left beside a 16 MB JS heap).`,
    );
    if (outside) {
      await worker.push(outside.serveFolder, "ladder-outside");
      const refused = await worker.post("/v1/completions", {
        model: "ladder-outside",
        prompt,
        max_tokens: 1,
      });
      const error = (await refused.json()) as { error?: { code?: string; message?: string } };
      const after = (await (await worker.fetch("/v1/stats")).json()) as {
        ort: { wasm_memory_bytes: number };
      };
      lines.push(
        `- ${outside.label}, the next one up: HTTP ${refused.status} \`${error.error?.code ?? "none"}\` (${error.error?.message ?? ""}); wasm memory ${after.ort.wasm_memory_bytes === wasm ? "unchanged" : `changed to ${mb(after.ort.wasm_memory_bytes)} MB`}.`,
      );
    }
  } finally {
    await worker.close();
  }
  return lines;
}

export async function benchScale(): Promise<string> {
  const models = [await chatModel()];
  for (const size of LADDER) models.push(await ladderModel(size));
  const rungs: Rung[] = [];
  for (const model of models) {
    rungs.push({
      model,
      int8Bytes: (await stat(join(model.folder, "onnx", "model_quantized.onnx"))).size,
      fp32Bytes: (await stat(join(model.folder, "onnx", "model.onnx"))).size,
      results: new Map(),
    });
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const rung of rungs) {
      for (const runner of RUNNERS) {
        process.stderr.write(`scale: round ${round}, ${rung.model.label}, ${runner.name}\n`);
        rung.results.set(runner.name, best(rung.results.get(runner.name), await probe(rung.model, runner)));
      }
    }
  }

  const [web, native, transformers, fp32] = RUNNERS.map((runner) => runner.name) as [
    string,
    string,
    string,
    string,
  ];
  const missing: ProbeResult = {
    loadMs: Number.NaN,
    wasmAfterLoadBytes: Number.NaN,
    loadGrowthBytes: Number.NaN,
    decodeGrowthBytes: Number.NaN,
    prefillMs: Number.NaN,
    decodeTokensPerSecond: Number.NaN,
    decodeTokensPerSecondP10: Number.NaN,
  };
  const at = (rung: Rung, name: string) => rung.results.get(name) ?? missing;
  const rows = rungs.map((rung) => {
    const w = at(rung, web);
    const speed = w.decodeTokensPerSecond;
    const versus = (name: string) => {
      const other = at(rung, name);
      return `${ratio(speed, other.decodeTokensPerSecond)} / ${ratio(w.decodeTokensPerSecondP10, other.decodeTokensPerSecondP10)}`;
    };
    return [
      rung.model.label,
      (rung.model.parameters / 1e6).toFixed(1),
      mb(rung.int8Bytes),
      ms(w.loadMs),
      `${mb(w.loadGrowthBytes)} (${ratio(w.loadGrowthBytes, rung.int8Bytes)})`,
      mb(w.decodeGrowthBytes),
      mb(w.wasmAfterLoadBytes + w.decodeGrowthBytes),
      ms(w.prefillMs),
      `${speed.toFixed(1)} / ${w.decodeTokensPerSecondP10.toFixed(1)}`,
      `${((speed * rung.int8Bytes) / 1e9).toFixed(2)}`,
      versus(fp32),
      versus(native),
      versus(transformers),
      fits(rung) ? "yes" : "no",
    ];
  });
  const speeds = rungs.map((rung) => [
    rung.model.label,
    ...RUNNERS.map((runner) => {
      const result = at(rung, runner.name);
      return `${result.decodeTokensPerSecond.toFixed(1)} / ${result.decodeTokensPerSecondP10.toFixed(1)}`;
    }),
    mb(rung.fp32Bytes),
    ms(at(rung, fp32).loadMs),
    mb(at(rung, fp32).wasmAfterLoadBytes + at(rung, fp32).decodeGrowthBytes),
    mb(at(rung, transformers).wasmAfterLoadBytes + at(rung, transformers).decodeGrowthBytes),
  ]);

  const inside = rungs.filter(fits).at(-1);
  const outside = inside ? rungs[rungs.indexOf(inside) + 1] : undefined;
  const workerd = inside
    ? await workerdCheck(inside.model, outside?.model)
    : ["- no model fits the accounting"];

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
        ["#2ca02c", native],
        ["#ff7f0e", transformers],
        ["#7f7f7f", fp32],
      ].map(([color, name]) => ({
        name: name as string,
        color: color as string,
        points: rungs.map((rung): [number, number] => [
          x(rung),
          at(rung, name as string).decodeTokensPerSecondP10,
        ]),
      })),
    },
    {
      title: "ORT wasm memory after load and decode",
      xLabel: "int8 file MB",
      yLabel: "MB",
      series: [
        { name: "int8, ORT copy in place (worker)", color: "#1f77b4", runner: web },
        { name: "int8 transformers.js (.onnx)", color: "#ff7f0e", runner: transformers },
      ].map(({ name, color, runner }) => ({
        name,
        color,
        points: rungs.map((rung): [number, number] => {
          const result = at(rung, runner);
          return [x(rung), (result.wasmAfterLoadBytes + result.decodeGrowthBytes) / MIB];
        }),
      })),
      lines: [
        { y: 128, label: "128 MB isolate" },
        { y: WASM_LIMIT_MB, label: `${WASM_LIMIT_MB} MB: the isolate less 16 MB of JS`, anchor: "start" },
      ],
    },
  ]);
  await writeFile(new URL("./results/scale.svg", import.meta.url), svg);

  return [
    "### Scale ladder: Llama-shaped int8 models (random weights) and the bundled chat model",
    "",
    `Prefill ${PROMPT} tokens, then ${STEPS} greedy decode steps with the KV cache, batch 1; each runner in a fresh process, ${ROUNDS} rounds taken in turn. int8 files are \`models:quantize\`'s (per-row activations, MatMulIntegerToFloat); onnxruntime-web loads the ORT-format copy in place, as the worker does. Memory is ORT's wasm memory (none for native, which is not wasm). "fits" = load growth within the ${DEFAULT_BUDGET_MB} MB model budget and wasm memory after decode within ${WASM_LIMIT_MB} MB (128 MB less a 16 MB JS heap). Decode tokens/s come from the median (p50) and 10th-percentile (p10) decode step of the faster round: on a shared machine a preempted step only adds time, so p10 shows a runner's own cost more steadily. Weight GB/s = p50 decode tokens/s x int8 file size. Ratios: int8 onnxruntime-web's decode tokens/s over the other runner's (above 1.00x, onnxruntime-web is faster).`,
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
        `prefill ${PROMPT} ms`,
        "decode tok/s p50 / p10",
        "weight GB/s",
        "vs fp32 web p50 / p10",
        "vs native p50 / p10",
        "vs transformers.js p50 / p10",
        "fits 128 MB",
      ],
      rows,
    ),
    "",
    "Decode tokens/s by runner (p50 / p10 step), and the fp32 file and transformers.js's memory:",
    "",
    table(
      [
        "model",
        ...RUNNERS.map((runner) => runner.name),
        "fp32 MB",
        "fp32 web load ms",
        "fp32 web wasm after decode MB",
        "transformers.js wasm after decode MB",
      ],
      speeds,
    ),
    "",
    "In workerd (the built worker through Miniflare, `models:push` of the int8 file alone):",
    "",
    ...workerd,
    "",
    "![decode tokens/s and wasm memory against int8 model size](scale.svg)",
  ].join("\n");
}
