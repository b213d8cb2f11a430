import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { convertToOrt } from "../../cli/lib/model-folder.js";
import { matMulModel } from "../../host/tiny-onnx.js";
import { createSession } from "../../src/runtime/load-session.js";
import { startOrtInNode } from "../../src/runtime/ort-node.js";

test("an ORT-format model read in place keeps its weights while later allocations reuse freed memory", async () => {
  const runtime = await startOrtInNode();
  assert.ok(runtime.heap, "the pinned onnxruntime-web build has a heap we can place models in");
  const { Tensor } = runtime.ort;
  const work = await mkdtemp(join(tmpdir(), "load-session-"));
  try {
    // MatMulNBits reads its weights from the initializer on every run (no prepacked copy), so
    // bytes overwritten under the session change the answer.
    const onnx = join(work, "model.onnx");
    const ort = join(work, "model.ort");
    await writeFile(onnx, matMulModel({ inputs: 256, outputs: 256, weight: 0.25, int8: true }));
    await convertToOrt(onnx, ort);
    const created = await createSession(runtime, new Uint8Array(await readFile(ort)), "ort");
    try {
      const answer = async (rows: number) => {
        const x = new Tensor("float32", new Float32Array(rows * 256).fill(1), [rows, 256]);
        const y = (await created.session.run({ x })).y;
        assert.ok(y);
        return [...(y.data as Float32Array)];
      };
      assert.deepEqual(new Set(await answer(1)), new Set([64]));
      // Another model of the same size is copied into ORT's heap where a freed buffer of that
      // size would be, and larger runs allocate inputs and activations.
      const other = await createSession(
        runtime,
        matMulModel({ inputs: 256, outputs: 256, weight: 0.75, int8: true }),
        "onnx",
      );
      await other.release();
      for (let rows = 2; rows <= 256; rows *= 2) await answer(rows);
      assert.deepEqual(new Set(await answer(1)), new Set([64]), "the weights are unchanged");
    } finally {
      await created.release();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
