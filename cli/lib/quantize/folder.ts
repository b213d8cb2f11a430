/** Quantizes every float ONNX file of a model folder, writing `onnx/<name>_quantized.onnx` beside it. */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatBytes, Progress } from "../progress.js";
import { type QuantizeReport, quantizeOnnx } from "./rewrite.js";

/** Suffixes of the variants Optimum and transformers.js write beside a float `<name>.onnx`. */
const VARIANT = /_(quantized|int8|uint8|q4|q4f16|fp16|bnb4)\.onnx$/;

export interface FileReport extends QuantizeReport {
  source: string;
  target: string;
  sourceBytes: number;
  targetBytes: number;
}

/** The float ONNX files of a folder (`onnx/*.onnx` without a variant suffix), relative paths. */
export async function floatOnnxFiles(folder: string): Promise<string[]> {
  const names = await readdir(join(folder, "onnx"));
  return names
    .filter((name) => name.endsWith(".onnx") && !VARIANT.test(name))
    .sort()
    .map((name) => `onnx/${name}`);
}

/** One line per file for the CLIs: sizes, how many weights became int8 (and joined), which stayed float. */
export function describeReport(file: FileReport): string {
  const parts = file.joined.reduce((count, join) => count + join.parts.length, 0);
  const matrices = file.joined.length === 1 ? "1 matrix" : `${file.joined.length} matrices`;
  const joined = file.joined.length > 0 ? ` (${parts} of them joined into ${matrices})` : "";
  const kept = file.kept.length > 0 ? `; kept float: ${file.kept.join(", ")}` : "";
  return `${file.target}: ${formatBytes(file.sourceBytes)} -> ${formatBytes(file.targetBytes)}, ${file.quantized.length} weights int8${joined}${kept}`;
}

export async function quantizeFolder(folder: string): Promise<FileReport[]> {
  const files = await floatOnnxFiles(folder);
  if (files.length === 0) throw new Error(`${folder} has no float ONNX file under onnx/`);
  const reports: FileReport[] = [];
  for (const source of files) {
    const bytes = new Uint8Array(await readFile(join(folder, source)));
    let progress: Progress | undefined;
    const { bytes: quantized, report } = quantizeOnnx(bytes, {
      onWeight: (name, _done, total) => {
        progress ??= new Progress(source, total, "items");
        progress.advance(1, name);
      },
    });
    progress?.finish();
    const target = source.replace(/\.onnx$/, "_quantized.onnx");
    await writeFile(join(folder, target), quantized);
    reports.push({
      ...report,
      source,
      target,
      sourceBytes: bytes.byteLength,
      targetBytes: quantized.byteLength,
    });
  }
  return reports;
}

export interface QuantizedCopy {
  /** A copy of the folder with `onnx/<name>_quantized.onnx` written beside every float file. */
  folder: string;
  reports: FileReport[];
  remove(): Promise<void>;
}

/**
 * Quantizes a copy of a folder, for `models:push --quantize int8`: the user's folder is left as it
 * was, and a `_quantized` file it already holds is replaced in the copy by this quantizer's.
 */
export async function quantizedCopy(folder: string): Promise<QuantizedCopy> {
  const copy = await mkdtemp(join(tmpdir(), "models-push-int8-"));
  const remove = () => rm(copy, { recursive: true, force: true });
  try {
    await cp(folder, copy, { recursive: true });
    return { folder: copy, reports: await quantizeFolder(copy), remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
