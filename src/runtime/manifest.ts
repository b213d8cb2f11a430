import { z } from "zod";

/**
 * A model in the store is a Hugging Face folder under `models/<id>/` plus `manifest.json`,
 * which this project defines. The manifest is written last by `models:push`, so a model is
 * visible only once every file it names is in place.
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

const tensorInfo = z.object({
  name: z.string(),
  type: z.string(),
  shape: z.array(z.union([z.number().int(), z.string()])),
});
export type TensorInfo = z.infer<typeof tensorInfo>;

const manifestFile = z.object({
  path: z
    .string()
    .regex(FILE_PATH)
    .refine((p) => !p.split("/").includes(".."), "no '..'"),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  onnx: z
    .object({
      inputs: z.array(tensorInfo),
      outputs: z.array(tensorInfo),
      /** ORT wasm memory that creating a session for this file took, measured at push time. */
      memory_bytes: z.number().int().positive(),
    })
    .optional(),
});
export type ManifestFile = z.infer<typeof manifestFile>;

export const manifestSchema = z.object({
  schema_version: z.literal(1),
  id: z.string().regex(MODEL_ID),
  task: z.enum(TASKS),
  created_at: z.string(),
  files: z.array(manifestFile).min(1),
  /** Target languages of a translation model, as its vocabulary names them (derived at push time). */
  languages: z.array(z.string()).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export function isValidModelId(id: string): boolean {
  return MODEL_ID.test(id) && !id.includes("..");
}

export function modelKey(id: string, path: string): string {
  return `${MODELS_PREFIX}${id}/${path}`;
}

export function onnxFiles(manifest: Manifest): ManifestFile[] {
  return manifest.files.filter((file) => file.onnx !== undefined);
}

export function findFile(manifest: Manifest, path: string): ManifestFile | undefined {
  return manifest.files.find((file) => file.path === path);
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
