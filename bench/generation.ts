import { loadTransformers, wasmOptions } from "../cli/lib/transformers.js";
import { MODELS_DIR } from "../host/paths.js";
import { generateIds } from "../src/tasks/causal-lm.js";
import { GREEDY } from "../src/tasks/sampling.js";
import { chatPrompt, openGenerator } from "../src/tasks/text-generation.js";
import { bareLoop } from "./bare-loop.js";
import { fixedLengthChat, prepareModel, startLoopWorker } from "./setup.js";
import { ms, percentile, ratio, table, timeIt } from "./stats.js";

/**
 * Prefill and decode speed and time to first token for the bundled chat model, greedy, in one
 * run: a bare onnxruntime-web loop (prompt, then one token per step with the KV cache: the floor),
 * this engine in Node, the worker over HTTP (streamed), and transformers.js generate() on WASM.
 *
 * Beside them, part of the worker's numbers that is not the worker's code: the client's round
 * trip to workerd, timed with a `GET /healthz` after each streamed request, on the worker's own
 * socket and through Miniflare's entry worker.
 */
const MODEL = "shop-assistant";
const NEW_TOKENS = 32;
const ROUNDS = 10;
/**
 * Untimed rounds first. workerd compiles ORT's wasm in tiers: a fresh isolate ran the int8 model
 * several times slower for its first ten or so requests (about 300 runs), and one warm-up round
 * timed part of that as the worker's overhead.
 */
const WARMUP_ROUNDS = 5;
export const PROMPTS = [
  [{ role: "user", content: "Hello! Where is my order A1234567? It has been a week." }],
  [{ role: "user", content: "你好，我的订单 A7654321 现在到哪里了？已经一周了。" }],
];

interface Speed {
  ttft: number[];
  decodePerSecond: number[];
  prefillPerSecond: number[];
}

function summary(speed: Speed) {
  return {
    ttft: percentile(speed.ttft, 50),
    bestTtft: percentile(speed.ttft, 10),
    decode: percentile(speed.decodePerSecond, 50),
    bestDecode: percentile(speed.decodePerSecond, 90),
    prefill: percentile(speed.prefillPerSecond, 50),
  };
}

function speedFrom(first: number, total: number, promptLength: number, newTokens: number, speed: Speed) {
  speed.ttft.push(first);
  speed.prefillPerSecond.push((promptLength * 1000) / first);
  speed.decodePerSecond.push(((newTokens - 1) * 1000) / Math.max(1e-6, total - first));
}

export async function benchGeneration(only?: string[]): Promise<string> {
  if (only && !only.includes(MODEL)) return "";
  const { registry, manifest, worker, store } = await prepareModel(MODEL, { directSocket: true });
  const loopWorker = await startLoopWorker(store);
  const loopUrl = loopWorker.directUrl ?? loopWorker.url;
  // Timed on the worker's own socket: Miniflare's entry worker, which production does not have,
  // adds a worker hop to every request and every streamed chunk.
  const workerUrl = worker.directUrl ?? worker.url;
  const transformers = await loadTransformers(MODELS_DIR);
  const rows: string[][] = [];
  const roundTrips: number[] = [];
  const proxiedRoundTrips: number[] = [];
  try {
    for (const dtype of ["int8", "fp32"] as const) {
      process.stderr.write(`generation: ${dtype}\n`);
      const lease = await openGenerator(registry, manifest, dtype);
      const generator = lease.value;
      const prompts = PROMPTS.map((messages) => chatPrompt(generator, messages));
      const noEos = new Set<number>();
      const bare: Speed = { ttft: [], decodePerSecond: [], prefillPerSecond: [] };
      const bareInWorkerd: Speed = { ttft: [], decodePerSecond: [], prefillPerSecond: [] };
      const bareInWorkerdYielding: Speed = { ttft: [], decodePerSecond: [], prefillPerSecond: [] };
      const engine: Speed = { ttft: [], decodePerSecond: [], prefillPerSecond: [] };
      const viaWorker: Speed = { ttft: [], decodePerSecond: [], prefillPerSecond: [] };
      const reference: Speed = { ttft: [], decodePerSecond: [], prefillPerSecond: [] };
      const model = await transformers.AutoModelForCausalLM.from_pretrained(
        MODEL,
        wasmOptions(dtype === "int8" ? "q8" : "fp32") as never,
      );
      for (let round = 1 - WARMUP_ROUNDS; round <= ROUNDS; round++) {
        for (const prompt of prompts) {
          const keep = round > 0;
          const b = await bareLoop(generator.lm, prompt, NEW_TOKENS);
          if (keep) speedFrom(b.first, b.total, prompt.length, NEW_TOKENS, bare);
          collectGarbage();
          const w = await workerdLoopTimes(loopUrl, dtype, prompt, b.last, false);
          if (keep) speedFrom(w.first, w.total, prompt.length, NEW_TOKENS, bareInWorkerd);
          collectGarbage();
          const wy = await workerdLoopTimes(loopUrl, dtype, prompt, b.last, true);
          if (keep) speedFrom(wy.first, wy.total, prompt.length, NEW_TOKENS, bareInWorkerdYielding);

          const [first] = await timeIt(() =>
            generateIds(generator.lm, {
              promptIds: prompt,
              maxNewTokens: 1,
              sampling: GREEDY,
              seed: 0,
              eosIds: noEos,
            }),
          );
          const [total] = await timeIt(() =>
            generateIds(generator.lm, {
              promptIds: prompt,
              maxNewTokens: NEW_TOKENS,
              sampling: GREEDY,
              seed: 0,
              eosIds: noEos,
            }),
          );
          if (keep) speedFrom(first, total, prompt.length, NEW_TOKENS, engine);

          const messages = PROMPTS[prompts.indexOf(prompt)] ?? [];
          // The client's own collector, with transformers.js's model in this process, must not pause
          // a stream it is timing: a full collection before each one.
          collectGarbage();
          // A keep-alive socket that workerd closed while this process was busy is retried once.
          const streamed = await streamTimes(workerUrl, dtype, messages, generator.eosIds).catch(() =>
            streamTimes(workerUrl, dtype, messages, generator.eosIds),
          );
          if (keep && streamed)
            speedFrom(streamed.first, streamed.total, prompt.length, streamed.tokens, viaWorker);
          const [roundTrip] = await timeIt(async () => (await fetch(new URL("/healthz", workerUrl))).text());
          const [proxied] = await timeIt(async () => (await fetch(new URL("/healthz", worker.url))).text());
          if (keep) roundTrips.push(roundTrip);
          if (keep) proxiedRoundTrips.push(proxied);

          const input = {
            input_ids: new transformers.Tensor("int64", BigInt64Array.from(prompt, BigInt), [
              1,
              prompt.length,
            ]),
            attention_mask: new transformers.Tensor("int64", new BigInt64Array(prompt.length).fill(1n), [
              1,
              prompt.length,
            ]),
          };
          const [tjsFirst] = await timeIt(() =>
            model.generate({ ...input, max_new_tokens: 1, min_new_tokens: 1, do_sample: false } as never),
          );
          const [tjsTotal] = await timeIt(() =>
            model.generate({
              ...input,
              max_new_tokens: NEW_TOKENS,
              min_new_tokens: NEW_TOKENS,
              do_sample: false,
            } as never),
          );
          if (keep) speedFrom(tjsFirst, tjsTotal, prompt.length, NEW_TOKENS, reference);
        }
      }
      await model.dispose();
      lease.release();
      const floor = summary(bare);
      for (const [name, speed] of [
        ["bare onnxruntime-web loop", bare],
        ["engine in Node", engine],
        ["bare loop in workerd (HTTP)", bareInWorkerd],
        ["bare loop in workerd, a turn per step", bareInWorkerdYielding],
        ["worker (HTTP, streamed)", viaWorker],
        ["transformers.js generate()", reference],
      ] as const) {
        const s = summary(speed);
        rows.push([
          `${dtype} ${name}`,
          `${s.prefill.toFixed(0)} (${ratio(s.prefill, floor.prefill)})`,
          `${s.decode.toFixed(1)} (${ratio(s.decode, floor.decode)})`,
          `${ms(s.ttft)} (${ratio(s.ttft, floor.ttft)})`,
          `${s.bestDecode.toFixed(1)} (${ratio(s.bestDecode, floor.bestDecode)})`,
          `${ms(s.bestTtft)} (${ratio(s.bestTtft, floor.bestTtft)})`,
        ]);
      }
    }
  } finally {
    await worker.close();
    await loopWorker.close();
  }
  return [
    `### Generation: ${MODEL}, greedy, ${NEW_TOKENS} new tokens, English and Chinese chat prompts`,
    "",
    `Median of ${ROUNDS} rounds x ${PROMPTS.length} prompts after ${WARMUP_ROUNDS} untimed rounds (a fresh workerd isolate runs ORT's wasm slower until it has compiled it fully). The last two columns are the best decile of the same runs (p90 of tokens/s, p10 of times), which a busy machine disturbs least. Ratios are to the bare loop's same statistic (higher is better for tokens/s, lower for time to first token). The worker is timed by the client over loopback HTTP, on a socket straight to the worker (not through Miniflare's entry worker), from the request to the first and last streamed content chunk.`,
    "",
    table(
      [
        "variant / runner",
        "prefill tokens/s",
        "decode tokens/s",
        "time to first token ms",
        "decode tokens/s, p90",
        "time to first token ms, p10",
      ],
      rows,
    ),
    "",
    `Not the worker's code, measured in the same run: a \`GET /healthz\` round trip from the same client to the worker's socket takes ${ms(percentile(roundTrips, 50))} ms (p50; p10 ${ms(percentile(roundTrips, 10))}), part of the worker's time to first token; through Miniflare's entry worker, as the tests and earlier runs of this table reach it, ${ms(percentile(proxiedRoundTrips, 50))} ms (p10 ${ms(percentile(proxiedRoundTrips, 10))}).`,
  ].join("\n");
}

/**
 * Streams a chat completion from the worker with EOS banned (so it runs the full length), timing
 * the first content chunk and the end; the token count comes from the streamed usage.
 */
/**
 * The bare loop in workerd (bench/workerd-loop.ts), timed by the client since workerd's clock stands
 * still while code runs: the prompt alone, then the prompt and NEW_TOKENS - 1 steps. The first time
 * is the loop's time to first token over HTTP; the difference is its decode. With `pause`, the loop
 * yields a turn of the event loop between steps, as the worker's generations must: without it
 * workerd answers no other request until the loop ends (a `GET /healthz` sent during a stream
 * whose steps did not yield was answered only after the stream's last token).
 */
async function workerdLoopTimes(
  url: URL,
  dtype: string,
  prompt: number[],
  expectedLast: number,
  pause: boolean,
) {
  const run = async (steps: number) => {
    const query = new URLSearchParams({
      model: MODEL,
      dtype,
      prompt: prompt.join(","),
      steps: String(steps),
      pause: pause ? "1" : "0",
    });
    const [time, answer] = await timeIt(async () => (await fetch(new URL(`/?${query}`, url))).text());
    return { time, last: Number(answer) };
  };
  const first = await run(1);
  const whole = await run(NEW_TOKENS);
  if (whole.last !== expectedLast) {
    throw new Error(`the bare loop in workerd ended on token ${whole.last}, in Node on ${expectedLast}`);
  }
  return { first: first.time, total: whole.time };
}

/** A full collection in this process when `--expose-gc` (as `npm run bench` runs) made one available. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function streamTimes(url: URL, dtype: string, messages: unknown[], eosIds: Set<number>) {
  const started = performance.now();
  const response = await fetch(new URL("/v1/chat/completions", url), {
    method: "POST",
    body: JSON.stringify(fixedLengthChat(`${MODEL}:${dtype}`, messages, NEW_TOKENS, eosIds)),
  });
  if (!response.body) return undefined;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let first = 0;
  let tokens = 0;
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (!first && /"content":"[^"]/.test(text)) first = performance.now() - started;
  }
  const usage = /"completion_tokens":(\d+)/.exec(text);
  tokens = Number(usage?.[1] ?? NEW_TOKENS);
  return { first, total: performance.now() - started, tokens };
}
