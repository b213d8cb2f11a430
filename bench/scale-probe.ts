import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { InferenceSession, Tensor } from "onnxruntime-web/wasm";
import { loadTransformers, wasmOptions } from "../cli/lib/transformers.js";
import { sampleWhileGrowing } from "../host/memory-sampler.js";
import { MemoryStore } from "../host/memory-store.js";
import { createSession } from "../src/runtime/load-session.js";
import type { OrtRuntime } from "../src/runtime/ort.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { ModelRegistry } from "../src/runtime/registry.js";
import { DecodeRun } from "../src/tasks/causal-lm.js";
import { argmax, GREEDY } from "../src/tasks/sampling.js";
import { lastLogits } from "../src/tasks/tensors.js";
import { openGenerator, textPrompt } from "../src/tasks/text-generation.js";
import { percentile } from "./stats.js";

/**
 * Runs as its own process, so each measurement starts from a fresh runtime:
 * `scale-probe.ts <runner> <folder> <file> <prompt> <steps>` loads one file of a Llama-shaped folder
 * and greedily decodes `steps` tokens after a `prompt`-token prefill, EOS ignored, then prints one JSON
 * line. Runners: `web-ort` (onnxruntime-web from the ORT-format copy read in place, as the worker
 * loads it), `web-onnx` (onnxruntime-web from the .onnx), `native` (onnxruntime-node, one thread),
 * `transformers` (transformers.js v4 generate() on onnxruntime-web; `file` is its dtype, q8 or fp32),
 * `engine` (this project's engine in Node: the folder pushed to an in-memory store as `models:push`
 * stores it, opened cold and decoded with DecodeRun on the text prompt the worker is sent; `file` is
 * the dtype).
 */
/** The engine's and the worker's prompt: 64 tokens with shop-assistant's tokenizer, as the bare loop's. */
export const PROMPT_TEXT = `${"Where is my order A1234567? It has been a week and I would like to know when it arrives. ".repeat(2)}Please tell me the delivery date.`;
export interface ProbeResult {
  loadMs: number;
  /** onnxruntime-web's wasm memory once loaded; its growth while loading (from a started runtime),
   * and over prefill and decode. NaN where it cannot be read (native memory; transformers.js starts
   * ORT during the load). */
  wasmAfterLoadBytes: number;
  loadGrowthBytes: number;
  decodeGrowthBytes: number;
  prefillMs: number;
  /** From the median decode step, and from the 10th percentile (a preempted step only adds time). */
  decodeTokensPerSecond: number;
  decodeTokensPerSecondP10: number;
  /** Decode steps over their total time, as the worker's stream is timed. */
  decodeTokensPerSecondMean: number;
  /**
   * Peak isolate memory while loading: the largest (JS heap used + ArrayBuffers, less their value just
   * before the load) + ORT's wasm memory, sampled every time ORT grows its memory and every
   * millisecond the event loop is free. NaN where not measured. `peakLoadJsBytes` is the JS part of it.
   */
  peakLoadBytes: number;
  peakLoadJsBytes: number;
  /** Cold time to the first token (engine: store read, session creation, prefill); NaN elsewhere. */
  firstTokenMs: number;
  promptTokens: number;
}

interface Config {
  num_hidden_layers: number;
  num_key_value_heads: number;
  head_dim: number;
  vocab_size: number;
}

type Run = (feeds: Record<string, unknown>) => Promise<Record<string, unknown>>;
type MakeTensor = (type: "int64" | "float32", data: BigInt64Array | Float32Array, dims: number[]) => unknown;

/** Prompt ids spread over the vocabulary past the special tokens, the same for every runner. */
export function promptIds(length: number, vocab: number): number[] {
  return Array.from({ length }, (_, i) => 3 + ((i * 7919) % (vocab - 3)));
}

/** The bare loop: prompt, then one token per step on the KV cache, argmax, nothing else. */
function decoder(run: Run, tensor: MakeTensor, config: Config, prompt: number[]) {
  const names = Array.from({ length: config.num_hidden_layers }, (_, i) => [`${i}.key`, `${i}.value`]).flat();
  let past: Record<string, unknown> = Object.fromEntries(
    names.map((name) => [
      `past_key_values.${name}`,
      tensor("float32", new Float32Array(0), [1, config.num_key_value_heads, 0, config.head_dim]),
    ]),
  );
  let tokens = prompt;
  let length = 0;
  return async () => {
    const total = length + tokens.length;
    const outputs = await run({
      ...past,
      input_ids: tensor("int64", BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
      attention_mask: tensor("int64", new BigInt64Array(total).fill(1n), [1, total]),
      position_ids: tensor(
        "int64",
        BigInt64Array.from(tokens, (_, i) => BigInt(length + i)),
        [1, tokens.length],
      ),
    });
    const best = argmax(lastLogits(outputs.logits as Tensor)[0] ?? []);
    past = Object.fromEntries(names.map((name) => [`past_key_values.${name}`, outputs[`present.${name}`]]));
    length = total;
    tokens = [best];
  };
}

async function decodeOnce(run: Run, tensor: MakeTensor, config: Config, prompt: number[], steps: number) {
  const step = decoder(run, tensor, config, prompt);
  const times = [performance.now()];
  for (let i = 0; i <= steps; i++) {
    await step();
    times.push(performance.now());
  }
  return speedFrom(times);
}

/**
 * Several files of one model in one onnxruntime-web runtime, decoded step by step in turn (one step
 * of each, then the next), so a burst of load on the shared machine hits every file alike: the
 * steadiest ratio between them. Two passes; the second is timed.
 */
async function interleaved(folder: string, files: string[], prompt: number, steps: number) {
  const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as Config;
  const ids = promptIds(prompt, config.vocab_size);
  const runtime = await startOrtInNode();
  const { ort } = runtime;
  const tensor: MakeTensor = (type, data, dims) => new ort.Tensor(type, data, dims);
  const sessions: InferenceSession[] = [];
  const loadGrowthBytes: number[] = [];
  for (const file of files) {
    const before = runtime.wasmMemoryBytes();
    const bytes = new Uint8Array(await readFile(join(folder, file)));
    sessions.push((await createSession(runtime, bytes, file.endsWith(".ort") ? "ort" : "onnx")).session);
    loadGrowthBytes.push(runtime.wasmMemoryBytes() - before);
  }
  let times: number[][] = [];
  for (let pass = 0; pass < 2; pass++) {
    const steppers = sessions.map((session) =>
      decoder((feeds) => session.run(feeds as never), tensor, config, ids),
    );
    times = sessions.map(() => [performance.now()]);
    for (let i = 0; i <= steps; i++) {
      for (const [index, step] of steppers.entries()) {
        const started = performance.now();
        await step();
        const own = times[index] ?? [];
        // each file's clock counts only its own steps
        own.push((own.at(-1) ?? 0) + performance.now() - started);
      }
    }
  }
  return files.map((file, index) => ({
    file,
    loadGrowthBytes: loadGrowthBytes[index] ?? Number.NaN,
    ...speedFrom(times[index] ?? []),
  }));
}

export type InterleavedResult = Awaited<ReturnType<typeof interleaved>>;

/** Prefill time and decode speed from the times at the start and after each step (prefill first). */
function speedFrom(times: number[]) {
  const [start = 0, prefilled = 0] = times;
  const steps = times.slice(2).map((time, i) => time - (times[i + 1] ?? 0));
  return {
    prefillMs: prefilled - start,
    decodeTokensPerSecond: 1000 / percentile(steps, 50),
    decodeTokensPerSecondP10: 1000 / percentile(steps, 10),
    decodeTokensPerSecondMean: (steps.length * 1000) / ((times.at(-1) ?? 0) - prefilled),
  };
}

/** The second of two identical decodes: the first pays for JIT warm-up and wasm memory growth. */
async function decode(run: Run, tensor: MakeTensor, config: Config, prompt: number[], steps: number) {
  await decodeOnce(run, tensor, config, prompt, steps);
  return decodeOnce(run, tensor, config, prompt, steps);
}

async function probe(runner: string, folder: string, file: string, prompt: number, steps: number) {
  const config = JSON.parse(await readFile(join(folder, "config.json"), "utf8")) as Config;
  const ids = promptIds(prompt, config.vocab_size);
  if (runner === "native") {
    const native = await import("onnxruntime-node");
    const started = performance.now();
    const session = await native.InferenceSession.create(join(folder, file), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "all",
    });
    const loadMs = performance.now() - started;
    const tensor: MakeTensor = (type, data, dims) => new native.Tensor(type, data, dims);
    const speed = await decode((feeds) => session.run(feeds as never), tensor, config, ids, steps);
    const none = Number.NaN;
    return {
      loadMs,
      wasmAfterLoadBytes: none,
      loadGrowthBytes: none,
      decodeGrowthBytes: none,
      ...speed,
      peakLoadBytes: none,
      peakLoadJsBytes: none,
      firstTokenMs: none,
      promptTokens: prompt,
    };
  }
  if (runner === "transformers") {
    const memory = watchWasmMemory();
    const transformers = await loadTransformers(dirname(folder));
    const started = performance.now();
    const model = await transformers.AutoModelForCausalLM.from_pretrained(
      folder.slice(dirname(folder).length + 1),
      wasmOptions(file as "q8" | "fp32") as never,
    );
    const loadMs = performance.now() - started;
    const afterLoad = memory();
    const input = {
      input_ids: new transformers.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, prompt]),
      attention_mask: new transformers.Tensor("int64", new BigInt64Array(prompt).fill(1n), [1, prompt]),
    };
    // generate() calls the streamer once with the prompt, then once per new token
    const generate = async () => {
      const times = [performance.now()];
      const streamer = { put: () => times.push(performance.now()), end: () => undefined };
      const tokens = steps + 1;
      const options = { max_new_tokens: tokens, min_new_tokens: tokens, do_sample: false, streamer };
      await model.generate({ ...input, ...options } as never);
      return speedFrom([times[0] ?? 0, ...times.slice(2)]);
    };
    await generate();
    const speed = await generate();
    return {
      loadMs,
      wasmAfterLoadBytes: afterLoad,
      loadGrowthBytes: Number.NaN,
      decodeGrowthBytes: memory() - afterLoad,
      ...speed,
      peakLoadBytes: Number.NaN,
      peakLoadJsBytes: Number.NaN,
      firstTokenMs: Number.NaN,
      promptTokens: prompt,
    };
  }
  if (runner === "engine") return engine(folder, file, steps);
  const runtime = await startOrtInNode();
  const before = runtime.wasmMemoryBytes();
  const watch = await watchLoadMemory(() => runtime.wasmMemoryBytes());
  const started = performance.now();
  const read = await readFile(join(folder, file));
  const bytes = new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
  watch.sample();
  const created = await createSession(runtime, bytes, runner === "web-ort" ? "ort" : "onnx");
  const loadMs = performance.now() - started;
  const peak = watch.stop();
  const afterLoad = runtime.wasmMemoryBytes();
  const session: InferenceSession = created.session;
  const { ort } = runtime;
  const tensor: MakeTensor = (type, data, dims) => new ort.Tensor(type, data, dims);
  const speed = await decode((feeds) => session.run(feeds as never), tensor, config, ids, steps);
  return {
    loadMs,
    wasmAfterLoadBytes: afterLoad,
    loadGrowthBytes: afterLoad - before,
    decodeGrowthBytes: runtime.wasmMemoryBytes() - afterLoad,
    ...speed,
    ...peak,
    firstTokenMs: Number.NaN,
    promptTokens: prompt,
  };
}

/** JS memory as the isolate counts it: the heap and the ArrayBuffers (the model's bytes read from the store). */
function jsBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Peak JS + wasm memory from now until stop(), over a baseline taken after a full garbage collection.
 */
async function watchLoadMemory(wasmBytes: () => number) {
  // Garbage left by what came before (the push, the runtime's start) would be freed during the load
  // and hide as much of it. V8 frees ArrayBuffers' memory on a background thread after a collection,
  // so the baseline waits until a collection no longer changes it.
  if (!gc) throw new Error("run the probe with --expose-gc");
  let base = Number.POSITIVE_INFINITY;
  for (let settled = false; !settled; ) {
    gc();
    await sleep(20);
    const now = jsBytes();
    settled = Math.abs(now - base) < 1024 * 1024;
    base = now;
  }
  let peak = { peakLoadBytes: 0, peakLoadJsBytes: 0 };
  const sample = () => {
    const js = jsBytes() - base;
    const total = js + wasmBytes();
    if (total > peak.peakLoadBytes) peak = { peakLoadBytes: total, peakLoadJsBytes: js };
  };
  const stopSampling = sampleWhileGrowing(sample);
  return {
    sample,
    stop() {
      stopSampling();
      return peak;
    },
  };
}

/**
 * The engine as the worker runs it: the folder pushed (ORT copy and manifest included) to an in-memory
 * store, a registry with room for every rung (the budget is the worker's check, not this), a cold open
 * and the first token, then two timed decodes (the second counts).
 */
async function engine(folder: string, dtype: string, steps: number) {
  const store = new MemoryStore();
  await store.push(folder, "ladder");
  let runtime: OrtRuntime | undefined;
  const registry = new ModelRegistry({
    store,
    startOrt: async () => {
      runtime = await startOrtInNode();
      return runtime;
    },
    budgetBytes: 1024 * 1024 * 1024,
  });
  const manifest = await registry.manifest("ladder");
  const watch = await watchLoadMemory(() => runtime?.wasmMemoryBytes() ?? 0);
  const started = performance.now();
  const lease = await openGenerator(registry, manifest, dtype);
  const loadMs = performance.now() - started;
  const peak = watch.stop();
  const generator = lease.value;
  const promptIds = textPrompt(generator, PROMPT_TEXT);
  const options = { promptIds, sampling: GREEDY, seed: 0, eosIds: new Set<number>(), n: 1 };
  await new DecodeRun(generator.lm, { ...options, maxNewTokens: 1 }).step();
  const firstTokenMs = performance.now() - started;
  const afterLoad = runtime?.wasmMemoryBytes() ?? Number.NaN;
  const decodeOnce = async () => {
    const run = new DecodeRun(generator.lm, { ...options, maxNewTokens: steps + 1 });
    const times = [performance.now()];
    while (!run.done) {
      await run.step();
      times.push(performance.now());
    }
    return speedFrom(times);
  };
  await decodeOnce();
  const speed = await decodeOnce();
  lease.release();
  return {
    loadMs,
    wasmAfterLoadBytes: afterLoad,
    loadGrowthBytes: Number.NaN,
    decodeGrowthBytes: (runtime?.wasmMemoryBytes() ?? Number.NaN) - afterLoad,
    ...speed,
    ...peak,
    firstTokenMs,
    promptTokens: promptIds.length,
  };
}

/**
 * transformers.js starts onnxruntime-web itself, so its wasm memory is caught the way the engine's
 * bootstrap catches it (src/runtime/ort.ts): from the instantiation's imports or the instance's exports.
 */
function watchWasmMemory(): () => number {
  const memories = new Set<WebAssembly.Memory>();
  const instantiate = WebAssembly.instantiate;
  const collect = (values: unknown[]) => {
    for (const value of values) if (value instanceof WebAssembly.Memory) memories.add(value);
  };
  WebAssembly.instantiate = (async (source: never, imports?: WebAssembly.Imports) => {
    const result = (await instantiate(source, imports)) as unknown;
    const instance =
      result instanceof WebAssembly.Instance
        ? result
        : (result as { instance: WebAssembly.Instance }).instance;
    collect(Object.values(imports ?? {}).flatMap((module) => Object.values(module)));
    collect(Object.values(instance.exports));
    return result;
  }) as typeof WebAssembly.instantiate;
  // other small wasm modules may be instantiated too; ORT's memory is the large one
  return () =>
    memories.size === 0 ? Number.NaN : Math.max(...[...memories].map((memory) => memory.buffer.byteLength));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [runner = "", folder = "", file = "", prompt = "64", steps = "32"] = process.argv.slice(2);
  const result: ProbeResult | InterleavedResult =
    runner === "interleaved"
      ? await interleaved(folder, file.split(","), Number(prompt), Number(steps))
      : await probe(runner, folder, file, Number(prompt), Number(steps));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
