import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import { TASKS, type Task } from "../src/runtime/manifest.js";
import { FolderError } from "./lib/folder-error.js";
import { pushAdapter } from "./lib/lora/adapter.js";
import { pushModel } from "./lib/push.js";
import { describeReport, type QuantizedCopy, quantizedCopy } from "./lib/quantize/folder.js";
import { LOCAL_PERSIST, localTarget, remoteTarget } from "./lib/targets.js";

const usage = `Usage: npm run models:push -- <folder> [--id NAME] [--task TASK] [--quantize int8] [--local | --remote] [--persist-to DIR] [--force]
       npm run models:push -- <adapter-folder> --base MODEL [--id NAME] [--local | --remote] [--persist-to DIR] [--force]

Validates a Hugging Face model folder (config.json, onnx/*.onnx, tokenizer files), writes its
manifest (sizes, sha256, ONNX inputs/outputs, measured memory) and uploads it to the MODELS bucket:
the local dev R2 (default, ${LOCAL_PERSIST}) or real R2 (--remote, through wrangler).
--quantize int8 pushes onnx/<name>_quantized.onnx beside every float file, made as models:quantize
makes it, from a copy: the folder itself is not changed.

With --base, the folder is a PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors)
for that model, checked against the base's projections and served under --id as its own model.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    id: { type: "string" },
    task: { type: "string" },
    local: { type: "boolean" },
    remote: { type: "boolean" },
    "persist-to": { type: "string" },
    force: { type: "boolean" },
    quantize: { type: "string" },
    base: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

const folder = positionals[0];
if (values.help || !folder || positionals.length > 1 || (values.local && values.remote)) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
if (values.task !== undefined && !TASKS.includes(values.task as Task)) {
  console.error(`--task must be one of: ${TASKS.join(", ")}`);
  process.exit(2);
}

if (values.quantize !== undefined && values.quantize !== "int8") {
  console.error("--quantize takes int8");
  process.exit(2);
}
if (values.quantize !== undefined && values.base !== undefined) {
  console.error("--quantize is for model folders; an adapter (--base) is pushed as it is");
  process.exit(2);
}

const target = values.remote ? await remoteTarget() : await localTarget(values["persist-to"]);
let quantized: QuantizedCopy | undefined;
try {
  const id = values.id ?? basename(resolve(folder));
  if (values.base !== undefined) {
    await pushAdapter(target, { folder: resolve(folder), id, base: values.base, force: values.force });
  } else {
    if (values.quantize) {
      quantized = await quantizedCopy(resolve(folder)).catch((error: unknown) => {
        throw new FolderError(`--quantize int8: ${error instanceof Error ? error.message : String(error)}`);
      });
      for (const file of quantized.reports) console.error(describeReport(file));
    }
    await pushModel(target, {
      folder: quantized?.folder ?? resolve(folder),
      id,
      task: values.task as Task | undefined,
      force: values.force,
    });
  }
} catch (error) {
  if (!(error instanceof FolderError)) throw error;
  console.error(`models:push: ${error.message}`);
  process.exitCode = 1;
} finally {
  await quantized?.remove();
  await target.close();
}
