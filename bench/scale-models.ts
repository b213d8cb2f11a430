import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { convertToOrt } from "../cli/lib/model-folder.js";
import { quantizeFolder } from "../cli/lib/quantize/folder.js";
import { MODELS_DIR } from "../host/paths.js";

/**
 * The scale ladder's models: Llama-shaped decoders with random weights at about 15, 30, 60 and 90 MB of
 * int8, built with shop-assistant's architecture and exporter (bench/scale/make_llama.py, fp32) and
 * its tokenizer, then quantized by `models:quantize`. They are made at bench time into `.tmp/scale/`
 * (git ignores it), in a folder named after a hash of everything that shapes the files, so a rerun
 * reuses them and a change to the generator or the quantizer makes new ones.
 */
export interface LadderSize {
  label: string;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  layers: number;
  headDim: number;
}

/** head_dim 64 and the chat model's vocabulary, RoPE and norms: only width and depth change. */
export const LADDER: LadderSize[] = [
  { label: "15 MB", hidden: 512, intermediate: 1280, heads: 8, kvHeads: 2, layers: 5, headDim: 64 },
  { label: "30 MB", hidden: 768, intermediate: 2176, heads: 12, kvHeads: 4, layers: 4, headDim: 64 },
  { label: "60 MB", hidden: 1024, intermediate: 2816, heads: 16, kvHeads: 4, layers: 5, headDim: 64 },
  { label: "90 MB", hidden: 1024, intermediate: 3200, heads: 16, kvHeads: 4, layers: 7, headDim: 64 },
];

const ROOT = join(import.meta.dirname, "..");
const CACHE = join(ROOT, ".tmp", "scale");
const GENERATOR = join(import.meta.dirname, "scale", "make_llama.py");
const VARIANTS = join(import.meta.dirname, "scale", "make_variants.py");
const RECIPE = join(MODELS_DIR, "recipes", "shop-assistant");
const QUANTIZER = join(ROOT, "cli", "lib", "quantize");
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];
const SEED = 13;

export interface LadderModel {
  label: string;
  /** The folder with config, tokenizer, onnx/model.onnx (fp32), model_quantized.onnx and its ORT copy. */
  folder: string;
  /** The same folder with only the int8 file, as a user would push it to serve it. */
  serveFolder: string;
  /** A folder with transformers.js's own q8 file of the same weights as its model_quantized.onnx. */
  transformersFolder: string;
  parameters: number;
}

/** The 8-bit MatMulNBits file of a rung, beside its fp32 and int8 files (bench/scale/make_variants.py). */
export const NBITS_FILE = "onnx/model_nbits8.onnx";

function hfConfig(size: LadderSize, vocab: number) {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: vocab,
    hidden_size: size.hidden,
    intermediate_size: size.intermediate,
    num_attention_heads: size.heads,
    num_key_value_heads: size.kvHeads,
    num_hidden_layers: size.layers,
    head_dim: size.headDim,
    hidden_act: "silu",
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    rope_scaling: null,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: false,
    use_cache: true,
    torch_dtype: "float32",
    bos_token_id: 0,
    eos_token_id: 2,
    pad_token_id: 0,
  };
}

/** Weights of the config: embeddings and head, then per layer attention (GQA) and the SwiGLU MLP. */
export function parameterCount(size: LadderSize, vocab: number): number {
  const attention = 2 * size.hidden * (size.heads + size.kvHeads) * size.headDim;
  const mlp = 3 * size.hidden * size.intermediate;
  const norms = 2 * size.hidden;
  return 2 * vocab * size.hidden + size.layers * (attention + mlp + norms) + size.hidden;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function sourcesHash(config: unknown): Promise<string> {
  const hash = createHash("sha256").update(JSON.stringify(config)).update(String(SEED));
  const quantizer = (await readdir(QUANTIZER)).sort().map((name) => join(QUANTIZER, name));
  for (const path of [GENERATOR, join(RECIPE, "modeling.py"), join(RECIPE, "export.py"), ...quantizer]) {
    hash.update(await readFile(path));
  }
  return hash.digest("hex").slice(0, 12);
}

/** A model folder shaped like shop-assistant: its tokenizer, a config, EOS = 2 only, greedy. */
async function writeFolder(folder: string, config: Record<string, unknown>) {
  await mkdir(join(folder, "onnx"), { recursive: true });
  await writeFile(join(folder, "config.json"), JSON.stringify(config, null, 2));
  const generation = {
    bos_token_id: 0,
    eos_token_id: 2,
    pad_token_id: 0,
    do_sample: false,
    max_new_tokens: 32,
  };
  await writeFile(join(folder, "generation_config.json"), JSON.stringify(generation, null, 2));
  for (const name of TOKENIZER_FILES)
    await copyFile(join(MODELS_DIR, "shop-assistant", name), join(folder, name));
}

/** Builds (or finds in the cache) one rung of the ladder. */
export async function ladderModel(size: LadderSize): Promise<LadderModel> {
  const vocab = (
    JSON.parse(await readFile(join(MODELS_DIR, "shop-assistant", "config.json"), "utf8")) as {
      vocab_size: number;
    }
  ).vocab_size;
  const config = hfConfig(size, vocab);
  const name = `llama-${size.label.replace(/\W+/g, "").toLowerCase()}-${await sourcesHash(config)}`;
  const folder = join(CACHE, name);
  const serveFolder = join(CACHE, `${name}-int8`);
  const model = {
    label: size.label,
    folder,
    serveFolder,
    transformersFolder: `${folder}-tjs`,
    parameters: parameterCount(size, vocab),
  };
  if (await exists(join(folder, "ready"))) return withVariants(model);

  await rm(folder, { recursive: true, force: true });
  await rm(serveFolder, { recursive: true, force: true });
  await writeFolder(folder, config);
  process.stderr.write(
    `scale: exporting ${size.label} fp32 (${(model.parameters / 1e6).toFixed(1)} M parameters)\n`,
  );
  await promisify(execFile)(
    process.env.PYTHON ?? "python3",
    [GENERATOR, join(folder, "config.json"), join(folder, "onnx", "model.onnx"), String(SEED)],
    { maxBuffer: 1 << 24 },
  );
  await quantizeFolder(folder);
  await convertToOrt(
    join(folder, "onnx", "model_quantized.onnx"),
    join(folder, "onnx", "model_quantized.ort"),
  );
  await writeFolder(serveFolder, config);
  await copyFile(
    join(folder, "onnx", "model_quantized.onnx"),
    join(serveFolder, "onnx", "model_quantized.onnx"),
  );
  await writeFile(join(folder, "ready"), "");
  return withVariants(model);
}

/**
 * The files onnxruntime's Python tools make of the rung's fp32 weights: 8-bit MatMulNBits and
 * transformers.js's q8. Cached apart from the rung (a stamp named after the script's hash), so
 * changing the script does not export the fp32 models again.
 */
async function withVariants(model: LadderModel): Promise<LadderModel> {
  const stamp = join(
    model.folder,
    `variants-${createHash("sha256")
      .update(await readFile(VARIANTS))
      .digest("hex")
      .slice(0, 12)}`,
  );
  if (await exists(stamp)) return model;
  const fp32 = join(model.folder, "onnx", "model.onnx");
  const python = (args: string[]) =>
    promisify(execFile)(process.env.PYTHON ?? "python3", [VARIANTS, ...args], { maxBuffer: 1 << 24 });
  process.stderr.write(`scale: MatMulNBits and transformers.js q8 files of ${model.label}\n`);
  await python(["nbits8", fp32, join(model.folder, NBITS_FILE)]);
  await rm(model.transformersFolder, { recursive: true, force: true });
  await mkdir(join(model.transformersFolder, "onnx"), { recursive: true });
  for (const name of ["config.json", "generation_config.json", ...TOKENIZER_FILES])
    await copyFile(join(model.folder, name), join(model.transformersFolder, name));
  await python(["tjs-q8", fp32, join(model.transformersFolder, "onnx", "model_quantized.onnx")]);
  await writeFile(stamp, "");
  return model;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `node --import tsx bench/scale-models.ts`: build the ladder ahead of the benchmark
  for (const size of LADDER) process.stdout.write(`${(await ladderModel(size)).folder}\n`);
}

/** The bundled chat model as the ladder's first rung: its own files, plus the ORT copy of the int8 one. */
export async function chatModel(): Promise<LadderModel> {
  const source = join(MODELS_DIR, "shop-assistant");
  const hash = createHash("sha256");
  for (const name of ["model.onnx", "model_quantized.onnx"])
    hash.update(await readFile(join(source, "onnx", name)));
  const folder = join(CACHE, `shop-assistant-${hash.digest("hex").slice(0, 12)}`);
  const config = JSON.parse(await readFile(join(source, "config.json"), "utf8")) as Record<string, number>;
  const size: LadderSize = {
    label: "shop-assistant",
    hidden: config.hidden_size ?? 0,
    intermediate: config.intermediate_size ?? 0,
    heads: config.num_attention_heads ?? 0,
    kvHeads: config.num_key_value_heads ?? 0,
    layers: config.num_hidden_layers ?? 0,
    headDim: config.head_dim ?? 0,
  };
  const parameters = parameterCount(size, config.vocab_size ?? 0);
  const model = {
    label: "shop-assistant",
    folder,
    serveFolder: source,
    transformersFolder: `${folder}-tjs`,
    parameters,
  };
  if (await exists(join(folder, "ready"))) return withVariants(model);
  await rm(folder, { recursive: true, force: true });
  await mkdir(join(folder, "onnx"), { recursive: true });
  for (const name of ["config.json", "generation_config.json", ...TOKENIZER_FILES]) {
    await copyFile(join(source, name), join(folder, name));
  }
  for (const name of ["model.onnx", "model_quantized.onnx"]) {
    await copyFile(join(source, "onnx", name), join(folder, "onnx", name));
  }
  await convertToOrt(
    join(folder, "onnx", "model_quantized.onnx"),
    join(folder, "onnx", "model_quantized.ort"),
  );
  await writeFile(join(folder, "ready"), "");
  return withVariants(model);
}
