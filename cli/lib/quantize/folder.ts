/** Quantizes every float ONNX file of a model folder, writing `onnx/<name>_quantized.onnx` beside it. */
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Progress } from "../progress.js";
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
