import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { describeReport, quantizeFolder } from "../../cli/lib/quantize/folder.js";
import { decodeModel } from "../../cli/lib/quantize/onnx.js";
import { FLOAT, graph, makeNode, makeTensor, modelBytes, randomValues, value } from "./helpers/graphs.js";

function matmulModel(): Uint8Array {
  return modelBytes(
    graph("matmul", {
      inputs: [value("x", FLOAT, ["rows", 32])],
      outputs: [value("y", FLOAT, ["rows", 32])],
      nodes: [makeNode("MatMul", ["x", "w"], ["y"], "matmul")],
      initializers: [makeTensor("w", [32, 32], randomValues(32 * 32, 1))],
    }),
  );
}

test("a folder: every float onnx/<name>.onnx gets <name>_quantized.onnx; other variants are left alone", async () => {
  const folder = await mkdtemp(join(tmpdir(), "quantize-folder-"));
  try {
    await mkdir(join(folder, "onnx"));
    await writeFile(join(folder, "onnx", "encoder_model.onnx"), matmulModel());
    await writeFile(join(folder, "onnx", "decoder_model_merged.onnx"), matmulModel());
    // not ONNX at all: reading either as a float model would throw
    await writeFile(join(folder, "onnx", "encoder_model_quantized.onnx"), "stale");
    await writeFile(join(folder, "onnx", "decoder_model_merged_fp16.onnx"), "not float32");

    const reports = await quantizeFolder(folder);
    assert.deepEqual(
      reports.map((r) => [r.source, r.target, r.quantized]),
      [
        ["onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged_quantized.onnx", ["w"]],
        ["onnx/encoder_model.onnx", "onnx/encoder_model_quantized.onnx", ["w"]],
      ],
    );
    const written = decodeModel(
      new Uint8Array(await readFile(join(folder, "onnx", "encoder_model_quantized.onnx"))),
    );
    assert.ok(written.graph?.node.some((node) => node.opType === "MatMulIntegerToFloat"));
    assert.equal(
      await readFile(join(folder, "onnx", "decoder_model_merged_fp16.onnx"), "utf8"),
      "not float32",
    );
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test("a folder without a float ONNX file is an error", async () => {
  const folder = await mkdtemp(join(tmpdir(), "quantize-folder-"));
  try {
    await mkdir(join(folder, "onnx"));
    await writeFile(join(folder, "onnx", "model_quantized.onnx"), "int8 only");
    await assert.rejects(quantizeFolder(folder), /no float ONNX file/);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test("the report line counts the weights joined: q, k and v reading one activation become one matrix", async () => {
  const folder = await mkdtemp(join(tmpdir(), "quantize-folder-"));
  try {
    await mkdir(join(folder, "onnx"));
    const projections = ["q", "k", "v"];
    const model = modelBytes(
      graph("qkv", {
        inputs: [value("x", FLOAT, ["rows", 32])],
        outputs: projections.map((name) => value(name, FLOAT, ["rows", 32])),
        nodes: projections.map((name) => makeNode("MatMul", ["x", `w${name}`], [name], `${name}_proj`)),
        initializers: projections.map((name, i) =>
          makeTensor(`w${name}`, [32, 32], randomValues(32 * 32, i + 2)),
        ),
      }),
    );
    await writeFile(join(folder, "onnx", "model.onnx"), model);
    const [report] = await quantizeFolder(folder);
    assert.ok(report);
    assert.match(describeReport(report), /: .* -> .*, 3 weights int8 \(3 of them joined into 1 matrix\)$/);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});
