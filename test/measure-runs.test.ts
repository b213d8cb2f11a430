import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildManifest } from "../cli/lib/model-folder.js";
import type { Probe } from "../cli/lib/run-probes.js";
import { findFile, ortPath } from "../src/runtime/manifest.js";
import { readModelConfig } from "../src/tasks/model-config.js";
import { fileRunCost, MEASURED_BASIS, runBytes } from "../src/tasks/run-memory.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Growth of wasm memory after each probe, on a fresh ORT in its own process. */
async function measure(path: string, probes: Probe[]): Promise<number[]> {
  const script = join(root, "cli/lib/run-probes.ts");
  const { stdout } = await promisify(execFile)(process.execPath, [
    "--import",
    "tsx",
    script,
    path,
    "ort",
    JSON.stringify(probes),
  ]);
  const message = JSON.parse(stdout) as { grown: number[] } | { error: string };
  if ("error" in message) throw new Error(message.error);
  return message.grown;
}

test("the pushed manifest's run cost predicts runs of sizes it was not measured at", async () => {
  const folder = join(root, "models/intent-bert");
  const ortDir = await mkdtemp(join(tmpdir(), "measure-runs-"));
  try {
    const started = performance.now();
    const manifest = await buildManifest(folder, { id: "intent-bert", ortDir });
    const file = findFile(manifest, "onnx/model_quantized.onnx");
    const measured = file?.onnx?.run_cost;
    assert.ok(file && measured, "the int8 model's runs were measured");
    assert.equal(measured.measured_with, "onnxruntime-web 1.30.0");
    console.log(
      `intent-bert manifest with run costs in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      measured,
    );

    // A size no probe had (the probes use 32, 64 and 128 tokens). The same run grows memory by
    // different amounts after different earlier runs (measured: 58 to 97 MB for 32 x 128 tokens,
    // as the heap's free blocks happen to lie), so it is measured after one and after two warm-up
    // runs, each on a fresh ORT, and the fit is held to the larger: that is what the engine must cover.
    const copy = join(ortDir, ortPath(file.path));
    const warmUp = { rows: 1, tokens: 16, past: 0, encoder: 16 };
    const size = { rows: 40, tokens: 100, past: 0, encoder: 100 };
    const grown = [
      ...(await measure(copy, [warmUp, size])),
      ...(await measure(copy, [warmUp, warmUp, size])),
    ];
    const worst = Math.max(...grown);
    const fit = {
      perToken: measured.per_token,
      perPosition: measured.per_position,
      perAttended: measured.per_attended,
      basis: MEASURED_BASIS,
    };
    const predicted = runBytes(fit, size.rows, size.tokens);
    console.log(`40 x 100 tokens: grew ${grown.join(", ")} bytes; predicted ${predicted}`);
    assert.ok(
      Math.abs(predicted - worst) <= 0.3 * worst,
      `40 x 100 tokens: predicted ${predicted}, measured up to ${worst}`,
    );

    // What the engine charges (the measurement with its margin) covers the run after either history.
    const charged = fileRunCost(file, readModelConfig({}), { logits: false, cache: false });
    assert.equal(charged.basis, MEASURED_BASIS);
    assert.ok(runBytes(charged, size.rows, size.tokens) >= worst, "the margin covers the worst growth seen");
  } finally {
    await rm(ortDir, { recursive: true, force: true });
  }
});
