import { z } from "zod";

/**
 * A model in the store is a Hugging Face folder under `models/<id>/` plus `manifest.json`,
 * which this project defines. The manifest is written last by `models:push`, so a model is
 * visible only once every file it names is in place.
 *
 * Schema 2 stores each file under its sha256 (`models/<id>/blobs/<sha256>`) instead of its path,
 * so a push never overwrites a file that a reader of the previous manifest may still be loading;
 * the paths in the manifest keep the Hugging Face layout. Schema 1 (files stored at their paths,
 * no ORT-format copies) is still read.
 */
export const MANIFEST_FILE = "manifest.json";
export const MODELS_PREFIX = "models/";

const MODEL_ID = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$/;
const FILE_PATH = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

export const TASKS = [
  "text-generation",
  "translation",
  "feature-extraction",
  "text-classification",
  "image-to-text",
  "tensor",
] as const;
export type Task = (typeof TASKS)[number];

export const MANIFEST_VERSION = 2;

const tensorInfo = z.object({
  name: z.string(),
  type: z.string(),
  shape: z.array(z.union([z.number().int(), z.string()])),
});
export type TensorInfo = z.infer<typeof tensorInfo>;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

const manifestFile = z.object({
  path: z
    .string()
    .regex(FILE_PATH)
    .refine((p) => !p.split("/").includes(".."), "no '..'"),
  size: z.number().int().nonnegative(),
  sha256,
  onnx: z
    .object({
      inputs: z.array(tensorInfo),
      outputs: z.array(tensorInfo),
      /**
       * ORT wasm memory that creating a session took, measured at push time for the file the
       * worker loads: the ORT-format copy when there is one.
       */
      memory_bytes: z.number().int().positive(),
      /** The same model in ORT format, which loads in about its own size instead of twice it. */
      ort: z.object({ size: z.number().int().nonnegative(), sha256 }).optional(),
    })
    .optional(),
});
export type ManifestFile = z.infer<typeof manifestFile>;

const loraModule = z.object({
  /** The module as the checkpoint (and peft's key names) call it: `model.layers.0.self_attn.q_proj`. */
  name: z.string(),
  in: z.number().int().positive(),
  out: z.number().int().positive(),
});
export type LoraModuleInfo = z.infer<typeof loraModule>;

/** The highest LoRA rank an adapter may have. */
export const MAX_LORA_RANK = 64;

/**
 * A base model that serves LoRA adapters: a copy of each decoder ONNX file with LoRA inputs on its
 * projections (`lora/<path>`, see cli/lib/lora/graph.ts), written when its first adapter is pushed.
 * The worker loads that copy instead of the plain file, for the base (rank 0) and every adapter.
 */
const loraBase = z.object({
  modules: z.array(loraModule).min(1),
  files: z.array(manifestFile).min(1),
});

/**
 * An adapter over a base model: the PEFT folder's files, and the weights as the worker feeds them
 * (`weights`: per module `lora.<module>.A` [in, r] and `.B` [r, out], scale folded into B).
 */
const adapterInfo = z.object({
  base: z.string().regex(MODEL_ID),
  rank: z.number().int().min(1).max(MAX_LORA_RANK),
  alpha: z.number(),
  scale: z.number(),
  target_modules: z.array(z.string()).min(1),
  /** The base's modules the adapter changes. */
  modules: z.array(z.string()).min(1),
  weights: z.object({ path: z.string().regex(FILE_PATH), size: z.number().int().nonnegative(), sha256 }),
});
export type AdapterInfo = z.infer<typeof adapterInfo>;

export const manifestSchema = z.object({
  schema_version: z.union([z.literal(1), z.literal(MANIFEST_VERSION)]),
  id: z.string().regex(MODEL_ID),
  task: z.enum(TASKS),
  created_at: z.string(),
  files: z.array(manifestFile).min(1),
  /** Target languages of a translation model, as its vocabulary names them (derived at push time). */
  languages: z.array(z.string()).optional(),
  lora: loraBase.optional(),
  adapter: adapterInfo.optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export function isValidModelId(id: string): boolean {
  return MODEL_ID.test(id) && !id.includes("..");
}

export function modelKey(id: string, path: string): string {
  return `${MODELS_PREFIX}${id}/${path}`;
}

/** A file as the store holds it: what it is called in the model folder, its size and checksum. */
export interface StoredFile {
  path: string;
  size: number;
  sha256: string;
}

/** Where the store keeps a file of a model. */
export function storeKey(manifest: Manifest, file: StoredFile): string {
  return manifest.schema_version === 1
    ? modelKey(manifest.id, file.path)
    : modelKey(manifest.id, `blobs/${file.sha256}`);
}

/** What the ORT-format copy of an ONNX file is called: `onnx/model.onnx` -> `onnx/model.ort`. */
export function ortPath(onnxPath: string): string {
  return onnxPath.replace(/\.onnx$/, ".ort");
}

/** The ORT-format copy of an ONNX file, if the manifest records one. */
export function ortFile(file: ManifestFile): StoredFile | undefined {
  const ort = file.onnx?.ort;
  return ort && { path: ortPath(file.path), size: ort.size, sha256: ort.sha256 };
}

/** Every file the store holds for a model: the folder's files and their ORT-format copies. */
export function storedFiles(manifest: Manifest): StoredFile[] {
  const withOrt = (file: ManifestFile) => {
    const ort = ortFile(file);
    return ort ? [file, ort] : [file];
  };
  return [
    ...manifest.files.flatMap(withOrt),
    ...(manifest.lora?.files.flatMap(withOrt) ?? []),
    ...(manifest.adapter ? [manifest.adapter.weights] : []),
  ];
}

/** The LoRA-ready copy of a base's ONNX file (`lora/<path>`), if the base has one. */
export function loraPath(onnxPath: string): string {
  return `lora/${onnxPath}`;
}

export function onnxFiles(manifest: Manifest): ManifestFile[] {
  return manifest.files.filter((file) => file.onnx !== undefined);
}

/** A file of a model by its path: the folder's, a LoRA-ready copy of a base's graph, or an adapter's weights. */
export function findFile(manifest: Manifest, path: string): ManifestFile | undefined {
  return (
    manifest.files.find((file) => file.path === path) ??
    manifest.lora?.files.find((file) => file.path === path) ??
    (manifest.adapter?.weights.path === path ? manifest.adapter.weights : undefined)
  );
}

export function totalSize(manifest: Manifest): number {
  return manifest.files.reduce((sum, file) => sum + file.size, 0);
}

/**
 * The ONNX variants of a model, named as Optimum names them (`model`, `model_quantized`,
 * `encoder_model`, ...). The tensor API exposes them as versions.
 */
export function variantName(path: string): string {
  return path.replace(/^onnx\//, "").replace(/\.onnx$/, "");
}
