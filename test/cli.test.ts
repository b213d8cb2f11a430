import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { readStoredManifest } from "../cli/lib/push.js";
import { quantizeOnnx } from "../cli/lib/quantize/rewrite.js";
import { localTarget } from "../cli/lib/targets.js";
import { MODELS_DIR } from "../host/paths.js";
import type { ManifestFile } from "../src/runtime/manifest.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const cli = (script: string, ...args: string[]) =>
  run(process.execPath, ["--import", "tsx", join(ROOT, "cli", script), ...args], { cwd: ROOT });

describe("models CLI against a local R2 folder", () => {
  let persist: string;
  before(async () => {
    persist = await mkdtemp(join(tmpdir(), "cli-r2-"));
  });
  after(() => rm(persist, { recursive: true, force: true }));

  test("models:push uploads with progress, models:ls lists, a second push is a no-op", async () => {
    const pushRisk = () =>
      cli("models-push.ts", join(MODELS_DIR, "order-risk"), "--id", "risk", "--persist-to", persist);
    const pushed = await pushRisk();
    assert.match(pushed.stderr, /risk: uploading .*100%/);
    assert.match(pushed.stderr, /3 files, task tensor, pushed/);
    const listed = await cli("models-ls.ts", "--persist-to", persist);
    assert.match(listed.stdout, /^risk\s+tensor\s+[\d.]+ KB\s+3$/m);
    const again = await pushRisk();
    assert.match(again.stderr, /risk: unchanged/);
  });

  test("a folder that is not a model is refused with a clear message and nothing is written", async () => {
    const folder = await mkdtemp(join(tmpdir(), "broken-"));
    try {
      await cp(join(MODELS_DIR, "order-risk"), folder, { recursive: true });
      await writeFile(join(folder, "onnx", "model.onnx"), "not an onnx file");
      await assert.rejects(
        cli("models-push.ts", folder, "--id", "broken", "--persist-to", persist),
        (error: Error & { stderr: string; code: number }) => {
          assert.equal(error.code, 1);
          assert.match(error.stderr, /onnx\/model\.onnx is not a loadable ONNX model/);
          return true;
        },
      );
      await writeFile(join(folder, "config.json"), "{ nope");
      await assert.rejects(
        cli("models-push.ts", folder, "--id", "broken", "--persist-to", persist),
        /config\.json is not valid JSON/,
      );
      const listed = await cli("models-ls.ts", "--persist-to", persist);
      assert.doesNotMatch(listed.stdout, /broken/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test("models:push --quantize int8 pushes the quantizer's int8 files, made from a copy of the folder", async () => {
    const folder = await mkdtemp(join(tmpdir(), "float-only-"));
    try {
      await cp(join(MODELS_DIR, "captioner"), folder, { recursive: true });
      for (const name of await readdir(join(folder, "onnx"))) {
        if (name.endsWith("_quantized.onnx")) await rm(join(folder, "onnx", name));
      }
      const floatOnly = (await readdir(join(folder, "onnx"))).sort();
      const pushed = await cli(
        "models-push.ts",
        folder,
        "--id",
        "cap8",
        "--quantize",
        "int8",
        "--persist-to",
        persist,
      );
      assert.match(pushed.stderr, /onnx\/encoder_model_quantized\.onnx: .* -> .*, \d+ weights int8/);
      assert.deepEqual((await readdir(join(folder, "onnx"))).sort(), floatOnly);

      const target = await localTarget(persist);
      try {
        const manifest = await readStoredManifest(target, "cap8");
        assert.ok(manifest);
        for (const source of floatOnly) {
          const expected = quantizeOnnx(new Uint8Array(await readFile(join(folder, "onnx", source)))).bytes;
          const path = `onnx/${source.replace(/\.onnx$/, "_quantized.onnx")}`;
          const stored: ManifestFile | undefined = manifest.files.find((file) => file.path === path);
          assert.equal(stored?.sha256, createHash("sha256").update(expected).digest("hex"), path);
          assert.ok(stored?.onnx?.ort, `${path} has an ORT-format copy`);
        }
      } finally {
        await target.close();
      }
      await assert.rejects(
        cli("models-push.ts", folder, "--id", "cap4", "--quantize", "int4", "--persist-to", persist),
        /--quantize takes int8/,
      );
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  test("bad ids and arguments are refused", async () => {
    await assert.rejects(
      cli("models-push.ts", join(MODELS_DIR, "order-risk"), "--id", "../x", "--persist-to", persist),
      /not a valid model id/,
    );
    await assert.rejects(cli("models-push.ts"), /Usage: npm run models:push/);
  });
});
