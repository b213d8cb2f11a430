import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema } from "onnx-buf";
import { encodeModel, floatValueInfo, makeNode, makeTensor } from "../cli/lib/quantize/onnx.js";
import { quantizeOnnx } from "../cli/lib/quantize/rewrite.js";
import { startOrtInNode } from "../src/runtime/ort-node.js";
import { percentile, table } from "./stats.js";

/**
 * Why int8 pays at large widths and costs at small ones in onnxruntime-web's WASM build: one
 * MatMul's time in float and in the served int8 layout (models:quantize: per-row activation
 * quantization, then MatMulIntegerToFloat), with ORT's weight prepacking on and off.
 *
 * A float MatMul's constant weight is packed once, when the session is made. MLAS's WASM SIMD
 * integer GEMM has no packing routine for B (its dispatch table leaves PackedOperation and
 * CopyPackBRoutine empty), so an int8 MatMul packs its whole weight again on every call: one more
 * pass over the weight per run, which a small model's many small MatMuls pay in full.
 */
const WIDTHS = [256, 512, 1024];
const ROWS = [1, 8];
const LAYERS = 12;
const ROUNDS = 200;
/** Untimed rounds first: V8 runs a wasm function in its baseline tier until it has been called often. */
const WARMUP_ROUNDS = 40;

/** x [rows, width] through LAYERS square MatMuls in a row (scaled so values stay finite). */
function matMulStack(width: number): Uint8Array {
  let seed = width;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31 - 0.5;
  };
  const nodes = [];
  const weights = [];
  let input = "x";
  for (let layer = 0; layer < LAYERS; layer++) {
    const values = Float32Array.from({ length: width * width }, () => (2 * random()) / Math.sqrt(width));
    weights.push(makeTensor(`w${layer}`, [width, width], values));
    nodes.push(makeNode("MatMul", [input, `w${layer}`], [`y${layer}`], `matmul${layer}`));
    input = `y${layer}`;
  }
  const graph = create(GraphProtoSchema, {
    name: "stack",
    node: nodes,
    initializer: weights,
    input: [floatValueInfo("x", ["rows", width])],
    output: [floatValueInfo(input, ["rows", width])],
  });
  const opset = create(OperatorSetIdProtoSchema, { domain: "", version: 17n });
  return encodeModel(create(ModelProtoSchema, { irVersion: 8n, opsetImport: [opset], graph }));
}

export async function benchInt8Kernels(): Promise<string> {
  const { ort } = await startOrtInNode();
  const rows: string[][] = [];
  for (const width of WIDTHS) {
    const float = matMulStack(width);
    const int8 = quantizeOnnx(float).bytes;
    const variants = {
      "fp32 MatMul": { bytes: float, prepack: true },
      "fp32 MatMul, prepacking off": { bytes: float, prepack: false },
      "int8 per-row (served)": { bytes: int8, prepack: true },
      "int8 per-row, prepacking off": { bytes: int8, prepack: false },
    };
    const sessions = await Promise.all(
      Object.values(variants).map(({ bytes, prepack }) =>
        ort.InferenceSession.create(bytes, {
          extra: { session: { disable_prepacking: prepack ? "0" : "1" } },
        } as never),
      ),
    );
    for (const count of ROWS) {
      const x = new ort.Tensor(
        "float32",
        Float32Array.from({ length: count * width }, (_, i) => Math.sin(i)),
        [count, width],
      );
      const times: number[][] = sessions.map(() => []);
      for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
        for (const [index, session] of sessions.entries()) {
          const started = performance.now();
          await session.run({ x });
          if (round >= WARMUP_ROUNDS) times[index]?.push(performance.now() - started);
        }
      }
      const perMatMul = times.map((samples) => (1000 * percentile(samples, 10)) / LAYERS);
      const floatUs = perMatMul[0] ?? 1;
      Object.keys(variants).forEach((name, index) => {
        const us = perMatMul[index] ?? 0;
        rows.push([
          `${width} x ${width}`,
          String(count),
          name,
          us.toFixed(1),
          `${(us / floatUs).toFixed(2)}x`,
        ]);
      });
    }
    await Promise.all(sessions.map((session) => session.release()));
  }
  return [
    "### int8 and fp32 MatMul kernels in onnxruntime-web (WASM), by width",
    "",
    `${LAYERS} square MatMuls in a row, x of [rows, width]; the float model, and the same model through \`models:quantize\` (per-row int8, MatMulIntegerToFloat). Time per MatMul (the whole run's p10 of ${ROUNDS} interleaved rounds, after ${WARMUP_ROUNDS} untimed ones, over ${LAYERS}; the int8 rows include the activation's quantization), ratio to the float MatMul with prepacking on (ORT's default). \`disable_prepacking\` is onnxruntime's session config entry \`session.disable_prepacking\`.`,
    "",
    table(["weight", "rows", "layout", "us per MatMul (p10)", "vs fp32"], rows),
  ].join("\n");
}
