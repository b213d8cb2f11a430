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

test("ORT's heap grows by what an allocation needs, and ORT keeps working in the grown memory", async () => {
  const runtime = await startOrtInNode();
  const heap = runtime.heap;
  assert.ok(heap);
  const MB = 1 << 20;
  heap.allocate(40 * MB);
  // Take the heap's free space, so the next block must grow it.
  const start = runtime.wasmMemoryBytes();
  while (runtime.wasmMemoryBytes() === start) heap.allocate(64 * 1024);
  const full = runtime.wasmMemoryBytes();
  // Emscripten's own policy grows a heap of this size by at least a fifth of it (over 11 MB).
  assert.ok(full - start <= MB, `the heap grew by ${(full - start) / MB} MB for a 64 KB block`);
  heap.allocate(2 * MB);
  const grown = runtime.wasmMemoryBytes() - full;
  assert.ok(grown > MB && grown <= 3 * MB, `the heap grew by ${grown / MB} MB for a 2 MB block`);
  // ORT writes inputs and reads outputs through its views of the memory, which must see the growth.
  const created = await createSession(
    runtime,
    matMulModel({ inputs: 1024, outputs: 1024, weight: 0.5, int8: false }),
    "onnx",
  );
  try {
    const rows = 1024;
    const x = new runtime.ort.Tensor("float32", new Float32Array(rows * 1024).fill(1), [rows, 1024]);
    const y = (await created.session.run({ x })).y;
    assert.ok(y);
    assert.deepEqual(new Set(y.data as Float32Array), new Set([512]));
  } finally {
    await created.release();
  }
});
