/**
 * Pushing a PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors`) against a
 * base model already in the store. The push refuses anything the engine would serve differently
 * from peft, then stores:
 *
 * - once per base, the LoRA-ready copies of the base's ONNX files (cli/lib/lora/graph.ts) and their
 *   ORT-format copies, recorded in the base's manifest (`lora`), which is rewritten in one write;
 * - the adapter as a model of its own (`models/<id>/`, files under their sha256 like any model),
 *   whose manifest names its base and the weights as the worker feeds them: per module A = lora_A^T
 *   [in, r] and B = (lora_alpha / r) * lora_B^T [r, out].
 *
 * The adapter's manifest is written last, after the base's, so no reader ever finds an adapter
 * whose base cannot serve it.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  type AdapterInfo,
  isValidModelId,
  type LoraModuleInfo,
  loraPath,
  MANIFEST_FILE,
  MANIFEST_VERSION,
  MAX_LORA_RANK,
  type Manifest,
  type ManifestFile,
  manifestSchema,
  modelKey,
  onnxFiles,
  ortFile,
  ortPath,
  storeKey,
} from "../../../src/runtime/manifest.js";
import {
  type FloatTensor,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "../../../src/runtime/safetensors.js";
import { FolderError } from "../folder-error.js";
import { convertToOrt, inspectOnnx, listFiles } from "../model-folder.js";
import { readStoredManifest } from "../push.js";
import type { Target } from "../targets.js";
import { addLoraInputs, loraInputNames } from "./graph.js";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";
/** Where the adapter's weights, as the worker feeds them, are recorded in its manifest. */
export const FED_WEIGHTS = "lora/weights.safetensors";

export interface AdapterPushOptions {
  folder: string;
  id: string;
  base: string;
  force?: boolean;
  quiet?: boolean;
}

export function isAdapterFolder(paths: readonly string[]): boolean {
  return paths.includes(ADAPTER_CONFIG);
}

/** What of adapter_config.json the engine relies on, checked. */
export interface AdapterConfig {
  rank: number;
  alpha: number;
  targetModules: string[];
  baseName?: string;
}

export function readAdapterConfig(json: Record<string, unknown>): AdapterConfig {
  const fail = (message: string): never => {
    throw new FolderError(`${ADAPTER_CONFIG}: ${message}`);
  };
  if (json.peft_type !== "LORA")
    fail(`peft_type is ${JSON.stringify(json.peft_type)}; only LORA adapters are served.`);
  const rank = json.r;
  if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 1) fail("r must be a positive integer.");
  if ((rank as number) > MAX_LORA_RANK) fail(`r is ${rank}; the highest rank served is ${MAX_LORA_RANK}.`);
  const alpha = json.lora_alpha ?? 8;
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) fail("lora_alpha must be a number.");
  const targets = json.target_modules;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === "string")) {
    fail("target_modules must be a list of module names (a regular expression is not supported).");
  }
  // Each of these would make peft compute something other than W x + (alpha / r) B A x.
  const unsupported: [string, unknown][] = [
    ["fan_in_fan_out", false],
    ["use_rslora", false],
    ["use_dora", false],
  ];
  for (const [key, expected] of unsupported) {
    if (json[key] !== undefined && json[key] !== expected) fail(`${key} must be ${expected}.`);
  }
  if (json.bias !== undefined && json.bias !== "none")
    fail(`bias is ${JSON.stringify(json.bias)}; only "none" is served.`);
  for (const key of ["modules_to_save", "layers_to_transform", "rank_pattern", "alpha_pattern"]) {
    const value = json[key];
    const empty =
      value === undefined || value === null || (typeof value === "object" && Object.keys(value).length === 0);
    if (!empty) fail(`${key} is set; adapters that change more than low-rank projections are not served.`);
  }
  return {
    rank: rank as number,
    alpha: alpha as number,
    targetModules: targets as string[],
    baseName: typeof json.base_model_name_or_path === "string" ? json.base_model_name_or_path : undefined,
  };
}

/** peft's match: a target is a module's full name or its last dotted parts. */
function targets(module: string, target: string): boolean {
  return module === target || module.endsWith(`.${target}`);
}

/**
 * Checks an adapter's tensors against the base's modules and returns the fed weights. Every targeted
 * module must have lora_A [r, in] and lora_B [out, r]; a tensor for anything else is refused.
 */
export function adapterWeights(
  config: AdapterConfig,
  tensors: Map<string, FloatTensor>,
  modules: readonly LoraModuleInfo[],
  baseId: string,
): { fed: [string, FloatTensor][]; covered: string[] } {
  for (const target of config.targetModules) {
    if (!modules.some((module) => targets(module.name, target))) {
      const kinds = [...new Set(modules.map((module) => module.name.split(".").at(-1)))].join(", ");
      throw new FolderError(
        `target module '${target}' does not exist in the base '${baseId}' (LoRA can target: ${kinds}).`,
      );
    }
  }
  const covered = modules.filter((module) =>
    config.targetModules.some((target) => targets(module.name, target)),
  );
  const scale = config.alpha / config.rank;
  const expected = new Set<string>();
  const fed: [string, FloatTensor][] = [];
  for (const module of covered) {
    const key = (part: "A" | "B") => `base_model.model.${module.name}.lora_${part}.weight`;
    const a = tensors.get(key("A"));
    const b = tensors.get(key("B"));
    for (const [name, tensor, shape] of [
      [key("A"), a, [config.rank, module.in]],
      [key("B"), b, [module.out, config.rank]],
    ] as const) {
      expected.add(name);
      if (!tensor) throw new FolderError(`${ADAPTER_WEIGHTS} has no tensor '${name}'.`);
      if (tensor.shape.join() !== shape.join()) {
        throw new FolderError(
          `${ADAPTER_WEIGHTS}: '${name}' is [${tensor.shape.join(", ")}]; the base '${baseId}' and r = ${config.rank} need [${shape.join(", ")}].`,
        );
      }
    }
    const names = loraInputNames(module.name);
    fed.push([names.a, { shape: [module.in, config.rank], data: transpose(a as FloatTensor, 1) }]);
    fed.push([names.b, { shape: [config.rank, module.out], data: transpose(b as FloatTensor, scale) }]);
  }
  const extra = [...tensors.keys()].filter((name) => !expected.has(name));
  if (extra.length > 0) {
    throw new FolderError(
      `${ADAPTER_WEIGHTS} has tensors no targeted module of '${baseId}' takes: ${extra.slice(0, 3).join(", ")}${extra.length > 3 ? ", ..." : ""}.`,
    );
  }
  return { fed, covered: covered.map((module) => module.name) };
}

/** A [rows, cols] matrix transposed to [cols, rows], times `scale`. */
function transpose(tensor: FloatTensor, scale: number): Float32Array {
  const [rows = 0, cols = 0] = tensor.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[c * rows + r] = (tensor.data[r * cols + c] ?? 0) * scale;
  return out;
}

interface Upload {
  key: string;
  bytes: Uint8Array;
}

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The LoRA-ready copies of every decoder ONNX file of a model, with their ORT-format copies and
 * metadata; `read` gives a file's bytes (from the folder being pushed, or from the store).
 */
export async function loraBase(
  manifest: Manifest,
  read: (file: ManifestFile) => Promise<Uint8Array>,
): Promise<{ lora: NonNullable<Manifest["lora"]>; uploads: Upload[] } | undefined> {
  const dir = await mkdtemp(join(tmpdir(), "lora-base-"));
  try {
    let modules: LoraModuleInfo[] | undefined;
    const files: ManifestFile[] = [];
    const uploads: Upload[] = [];
    for (const file of onnxFiles(manifest)) {
      const rewritten = addLoraInputs(await read(file));
      if (rewritten.modules.length === 0) continue;
      if (modules && JSON.stringify(modules) !== JSON.stringify(rewritten.modules)) {
        throw new FolderError(`${file.path} has other projections than the model's other ONNX files.`);
      }
      modules = rewritten.modules;
      const path = loraPath(file.path);
      const onnxCopy = join(dir, path);
      const ortCopy = join(dir, ortPath(path));
      await mkdir(dirname(onnxCopy), { recursive: true });
      await writeFile(onnxCopy, rewritten.bytes);
      await convertToOrt(onnxCopy, ortCopy);
      const ortBytes = new Uint8Array(await readFile(ortCopy));
      const inspected = await inspectOnnx(onnxCopy, ortCopy);
      const stored: ManifestFile = {
        path,
        size: rewritten.bytes.byteLength,
        sha256: digest(rewritten.bytes),
        onnx: { ...inspected, ort: { size: ortBytes.byteLength, sha256: digest(ortBytes) } },
      };
      files.push(stored);
      const ort = ortFile(stored);
      uploads.push({ key: storeKey(manifest, stored), bytes: rewritten.bytes });
      if (ort) uploads.push({ key: storeKey(manifest, ort), bytes: ortBytes });
    }
    return modules ? { lora: { modules, files }, uploads } : undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export type AdapterPushResult = { status: "pushed" | "unchanged"; manifest: Manifest };

export async function pushAdapter(target: Target, options: AdapterPushOptions): Promise<AdapterPushResult> {
  const log = (line: string) => {
    if (!options.quiet) process.stderr.write(`${line}\n`);
  };
  if (!isValidModelId(options.id)) {
    throw new FolderError(`'${options.id}' is not a valid model id (letters, digits, '.', '_', '-').`);
  }
  if (options.id === options.base)
    throw new FolderError("An adapter needs an id of its own, not its base's.");
  const paths = await listFiles(options.folder);
  for (const required of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) {
    if (!paths.includes(required)) throw new FolderError(`${options.folder} has no ${required}.`);
  }
  let configJson: Record<string, unknown>;
  try {
    configJson = JSON.parse(await readFile(join(options.folder, ADAPTER_CONFIG), "utf8")) as Record<
      string,
      unknown
    >;
  } catch (error) {
    throw new FolderError(`${ADAPTER_CONFIG} is not valid JSON: ${(error as Error).message}`);
  }
  const config = readAdapterConfig(configJson);

  let base = await readStoredManifest(target, options.base);
  if (!base)
    throw new FolderError(`The base model '${options.base}' is not in ${target.description}: push it first.`);
  if (base.adapter) throw new FolderError(`'${options.base}' is itself an adapter; name its base model.`);
  if (base.task !== "text-generation") {
    throw new FolderError(
      `The base '${options.base}' is a ${base.task} model; LoRA adapters are served on text-generation models.`,
    );
  }
  const baseUploads: Upload[] = [];
  if (!base.lora) {
    const stored = base;
    const made = await loraBase(base, async (file) => {
      const bytes = await target.get(storeKey(stored, file));
      if (!bytes)
        throw new FolderError(
          `${file.path} of '${stored.id}' is missing from the store: push the base again.`,
        );
      return bytes;
    });
    if (!made) {
      throw new FolderError(
        `The base '${options.base}' has no Llama-style projections (q_proj, v_proj, ... named in its ONNX nodes) that LoRA can target.`,
      );
    }
    base = { ...base, lora: made.lora };
    baseUploads.push(...made.uploads);
  }

  let tensors: Map<string, FloatTensor>;
  try {
    tensors = readSafetensors(new Uint8Array(await readFile(join(options.folder, ADAPTER_WEIGHTS))));
  } catch (error) {
    if (error instanceof SafetensorsError) throw new FolderError(`${ADAPTER_WEIGHTS}: ${error.message}`);
    throw error;
  }
  const { fed, covered } = adapterWeights(config, tensors, base.lora?.modules ?? [], options.base);
  // The folder's own name for its base is often a hub id or a path: the shapes decide, the name is only said.
  if (config.baseName !== undefined && config.baseName !== options.base) {
    log(
      `${options.id}: adapter_config.json names the base '${config.baseName}'; its shapes fit '${options.base}'`,
    );
  }
  const weights = writeSafetensors(fed);

  const files: ManifestFile[] = await Promise.all(
    paths.map(async (path) => {
      const bytes = await readFile(join(options.folder, path));
      return { path, size: bytes.byteLength, sha256: digest(bytes) };
    }),
  );
  const adapter: AdapterInfo = {
    base: options.base,
    rank: config.rank,
    alpha: config.alpha,
    scale: config.alpha / config.rank,
    target_modules: config.targetModules,
    modules: covered,
    weights: { path: FED_WEIGHTS, size: weights.byteLength, sha256: digest(weights) },
  };
  const previous = await readStoredManifest(target, options.id);
  if (
    !options.force &&
    baseUploads.length === 0 &&
    previous?.adapter &&
    JSON.stringify(previous.adapter) === JSON.stringify(adapter) &&
    JSON.stringify(previous.files) === JSON.stringify(files)
  ) {
    log(`${options.id}: unchanged in ${target.description}`);
    return { status: "unchanged", manifest: previous };
  }
  const manifest = manifestSchema.parse({
    schema_version: MANIFEST_VERSION,
    id: options.id,
    task: "text-generation",
    created_at: new Date().toISOString(),
    files,
    adapter,
  });

  for (const upload of baseUploads) await target.put(upload.key, upload.bytes);
  if (baseUploads.length > 0) {
    await target.put(
      modelKey(base.id, MANIFEST_FILE),
      new TextEncoder().encode(`${JSON.stringify(base, null, 2)}\n`),
    );
    log(`${base.id}: LoRA inputs added to ${base.lora?.files.map((file) => file.path).join(", ")}`);
  }
  for (const file of files) {
    await target.put(
      storeKey(manifest, file),
      new Uint8Array(await readFile(join(options.folder, file.path))),
    );
  }
  await target.put(storeKey(manifest, adapter.weights), weights);
  await target.put(
    modelKey(options.id, MANIFEST_FILE),
    new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`),
  );
  log(
    `${options.id}: LoRA r=${config.rank} over '${options.base}' (${covered.length} modules, ${weights.byteLength} bytes fed), pushed to ${target.description}`,
  );
  return { status: "pushed", manifest };
}
