import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeReport, quantizeFolder } from "./lib/quantize/folder.js";

const usage = `Usage: npm run models:quantize -- <folder>

Writes onnx/<name>_quantized.onnx beside every float onnx/<name>.onnx of a Hugging Face / Optimum
model folder: int8 weights per output channel, activations quantized per row at run time
(MatMulIntegerToFloat), embedding tables gathered as int8. An existing _quantized file is replaced.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { help: { type: "boolean", short: "h" } },
});
const folder = positionals[0];
if (values.help || !folder || positionals.length > 1) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}

try {
  for (const file of await quantizeFolder(resolve(folder))) console.log(describeReport(file));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
