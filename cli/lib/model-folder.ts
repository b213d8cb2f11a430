import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { InferenceSession as NativeSession } from "onnxruntime-node";
import {
  isValidModelId,
  MANIFEST_FILE,
  MANIFEST_VERSION,
  type Manifest,
  type ManifestFile,
  manifestSchema,
  ortPath,
  type Task,
  type TensorInfo,
} from "../../src/runtime/manifest.js";
import { type GenaiConfig, genaiModelConfig, readGenaiConfig } from "../../src/tasks/genai-config.js";
import { readModelConfig } from "../../src/tasks/model-config.js";
import { languageTokens } from "../../src/text/languages.js";
import { TextTokenizer } from "../../src/text/tokenizer.js";
import { FolderError } from "./folder-error.js";
import { measureRuns } from "./measure-runs.js";
import { cachedRunCost } from "./run-cost-cache.js";
import { checkGenaiNames, checkServable } from "./servable.js";

export interface InspectedOnnx {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  memory_bytes: number;
}

/** Files that belong to a folder on disk but not to the model in the store. */
const SKIPPED = new Set([MANIFEST_FILE, ".DS_Store", ".gitattributes"]);

export async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && !SKIPPED.has(entry.name) && !entry.name.startsWith("."))
    .map((entry) => relative(folder, join(entry.parentPath, entry.name)).split(sep).join("/"))
    .sort();
}

/** The task, from `config.json` as Hugging Face writes it. */
export function inferTask(config: Record<string, unknown> | undefined): Task {
  const architectures = Array.isArray(config?.architectures) ? config.architectures.map(String) : [];
  const modelType = typeof config?.model_type === "string" ? config.model_type : "";
  // Hugging Face names a causal LM `...ForCausalLM`, or `...LMHeadModel` for the oldest (GPT-2).
  if (architectures.some((name) => /ForCausalLM$|LMHeadModel$/.test(name))) return "text-generation";
  if (modelType === "vision-encoder-decoder") return "image-to-text";
  if (architectures.some((name) => /MTModel$|ForConditionalGeneration$/.test(name))) return "translation";
  if (architectures.some((name) => name.endsWith("ForSequenceClassification"))) return "text-classification";
  // A bare `...Model` (BertModel, DistilBertModel, XLMRobertaModel, ...) returns hidden states.
  const bareModel = (name: string) => /^[A-Za-z0-9]+Model$/.test(name) && !/EncoderDecoderModel$/.test(name);
  if (modelType === "static-embedding" || architectures.some(bareModel)) return "feature-extraction";
  return "tensor";
}

/**
 * Loads an ONNX file in a fresh ORT (its own process) to read its inputs, outputs and memory
 * cost; with `ortCopy`, the cost is that of its ORT-format copy, which is what the worker loads.
 */
export function inspectOnnx(path: string, ortCopy?: string): Promise<InspectedOnnx> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL("./inspect-onnx.ts", import.meta.url));
    const args = ["--import", "tsx", script, path, ...(ortCopy ? [ortCopy] : [])];
    execFile(process.execPath, args, (error, stdout, stderr) => {
      if (error) return reject(new Error(stderr.trim() || error.message));
      const message = JSON.parse(stdout) as InspectedOnnx | { error: string };
      if ("error" in message) reject(new Error(message.error));
      else resolve(message);
    });
  });
}

/**
 * Writes the ORT-format copy of an ONNX file with native onnxruntime (the same version as
 * onnxruntime-web). Only the basic, provider-independent optimizations are applied, so the file
 * runs under onnxruntime-web's CPU kernels like the `.onnx` does.
 */
export async function convertToOrt(onnxPath: string, ortCopy: string): Promise<void> {
  await mkdir(dirname(ortCopy), { recursive: true });
  const session = await NativeSession.create(onnxPath, {
    graphOptimizationLevel: "basic",
    optimizedModelFilePath: ortCopy,
    extra: { session: { save_model_format: "ORT" } },
  });
  await session.release();
}

/**
 * The folder's files under the names the store keeps them by (manifest path -> path in the folder).
 * onnxruntime-genai's model builder writes the decoder at the folder's root under the name
 * genai_config.json gives it; the store keeps it as `onnx/model.onnx`, where the engine looks for a
 * decoder.
 */
export async function folderSources(folder: string): Promise<Map<string, string>> {
  const paths = await listFiles(folder);
  const genai = await folderGenai(folder, paths);
  const decoder = genai?.model?.decoder?.filename;
  // An Optimum folder may carry a genai_config.json beside its own onnx/ files.
  if (genai && !paths.some(isOnnx) && !(decoder && paths.includes(decoder))) {
    throw new FolderError(
      `genai_config.json names the decoder ${decoder ?? "(none)"}, which is not in ${folder}.`,
    );
  }
  return new Map(
    paths.map((path) => [path === decoder && !paths.some(isOnnx) ? "onnx/model.onnx" : path, path]),
  );
}

async function folderGenai(folder: string, paths: readonly string[]): Promise<GenaiConfig | undefined> {
  if (!paths.includes("genai_config.json")) return undefined;
  const genai = readGenaiConfig(
    parseJson(await readFile(join(folder, "genai_config.json"), "utf8"), "genai_config.json"),
  );
  // genai's pipelines of several models (Whisper, Phi-3 vision, embeddings) have more sections than a decoder.
  const others = Object.keys(genai.model ?? {}).filter((key) => MULTI_MODEL_SECTIONS.has(key));
  if (others.length > 0) {
    throw new FolderError(
      `genai_config.json describes a pipeline with ${others.join(", ")} beside the decoder; only decoder-only genai folders are served.`,
    );
  }
  return genai;
}

const MULTI_MODEL_SECTIONS = new Set(["encoder", "vision", "speech", "embedding", "encoder_decoder_init"]);

/**
 * The folder's config.json, or for an onnxruntime-genai folder without one the config.json
 * genai_config.json stands for; its genai config; and its task (genai's builder makes decoders
 * for text generation only).
 */
export async function folderConfig(
  folder: string,
): Promise<{ config: Record<string, unknown>; genai?: GenaiConfig; task: Task }> {
  const paths = await listFiles(folder);
  const genai = await folderGenai(folder, paths);
  if (genai && !paths.includes("config.json")) {
    return { config: genaiModelConfig(genai), genai, task: "text-generation" };
  }
  const config = parseJson(await readFile(join(folder, "config.json"), "utf8"), "config.json");
  return { config, genai, task: inferTask(config) };
}

/** Lists a folder's files with sizes and checksums, checking the Hugging Face layout on the way. */
export async function hashFolder(folder: string): Promise<ManifestFile[]> {
  const sources = await folderSources(folder);
  const paths = [...sources.values()];
  if (!paths.includes("config.json") && !paths.includes("genai_config.json")) {
    throw new FolderError(`${folder} has no config.json (or genai_config.json).`);
  }
  if (![...sources.keys()].some(isOnnx)) throw new FolderError(`${folder} has no onnx/*.onnx file.`);
  for (const name of ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
    if (paths.includes(name)) parseJson(await readFile(join(folder, name), "utf8"), name);
  }
  return Promise.all(
    [...sources].map(async ([path, source]) => {
      const bytes = await readFile(join(folder, source));
      return { path, size: bytes.byteLength, sha256: createHash("sha256").update(bytes).digest("hex") };
    }),
  );
}

export interface BuildOptions {
  id: string;
  task?: Task;
  /** An empty folder the ORT-format copies are written to, at their manifest paths (`onnx/model.ort`). */
  ortDir: string;
  onInspect?: (path: string, index: number, total: number) => void;
}

/**
 * Validates a Hugging Face model folder and builds its manifest (checksums, ONNX metadata,
 * memory of loading and of runs), writing an ORT-format copy of each ONNX file into `ortDir`.
 */
export async function buildManifest(folder: string, options: BuildOptions): Promise<Manifest> {
  if (!isValidModelId(options.id)) {
    throw new FolderError(`'${options.id}' is not a valid model id (letters, digits, '.', '_', '-').`);
  }
  const files = await hashFolder(folder);
  const sources = await folderSources(folder);
  const { config, genai, task: inferred } = await folderConfig(folder);
  // An encoder-decoder's positions are its decoder's (a vision encoder's inputs have fixed sizes).
  const decoderConfig = typeof config.decoder === "object" ? (config.decoder as Record<string, unknown>) : {};
  const contextLength = readModelConfig(config).contextLength ?? readModelConfig(decoderConfig).contextLength;
  const onnx = files.filter((file) => isOnnx(file.path));
  for (const [index, file] of onnx.entries()) {
    options.onInspect?.(file.path, index, onnx.length);
    const source = join(folder, sources.get(file.path) ?? file.path);
    const copy = join(options.ortDir, ortPath(file.path));
    try {
      await convertToOrt(source, copy);
      const ortBytes = await readFile(copy);
      const inspected = await inspectOnnx(source, copy);
      file.onnx = {
        ...inspected,
        ort: { size: ortBytes.byteLength, sha256: createHash("sha256").update(ortBytes).digest("hex") },
      };
    } catch (error) {
      throw new FolderError(`${file.path} is not a loadable ONNX model: ${(error as Error).message}`);
    }
    // A file whose runs cannot be measured still loads; the engine estimates its runs instead.
    const shape = { inputs: file.onnx.inputs, contextLength };
    const runCost = await cachedRunCost(file.sha256, shape, () => measureRuns(copy, "ort", shape)).catch(
      () => undefined,
    );
    if (runCost) file.onnx.run_cost = runCost;
  }
  const task = options.task ?? inferred;
  checkServable(task, files, config);
  if (genai) checkGenaiNames(genai);
  const languages = task === "translation" ? await translationLanguages(folder) : undefined;
  return manifestSchema.parse({
    schema_version: MANIFEST_VERSION,
    id: options.id,
    task,
    created_at: new Date().toISOString(),
    files,
    ...(languages && languages.length > 0 ? { languages } : {}),
  });
}

/** Whether a stored manifest already describes exactly these files. */
export function sameFiles(manifest: Manifest, files: ManifestFile[]): boolean {
  const key = (f: ManifestFile) => `${f.path}:${f.size}:${f.sha256}`;
  const stored = new Set(manifest.files.map(key));
  return stored.size === files.length && files.every((file) => stored.has(key(file)));
}

/** The target languages a translation model's vocabulary names (see src/text/languages.ts). */
async function translationLanguages(folder: string): Promise<string[] | undefined> {
  const read = async (name: string) => {
    try {
      return parseJson(await readFile(join(folder, name), "utf8"), name);
    } catch {
      return undefined;
    }
  };
  const tokenizerJson = await read("tokenizer.json");
  if (!tokenizerJson) return undefined;
  const tokenizer = new TextTokenizer({
    tokenizerJson,
    tokenizerConfig: (await read("tokenizer_config.json")) ?? {},
  });
  return [...languageTokens(tokenizer).tokens.keys()].sort();
}

function isOnnx(path: string): boolean {
  return path.startsWith("onnx/") && path.endsWith(".onnx");
}

function parseJson(text: string, name: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new FolderError(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}
