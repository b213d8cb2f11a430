import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { MODELS_DIR } from "../host/paths.js";

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

  test("bad ids and arguments are refused", async () => {
    await assert.rejects(
      cli("models-push.ts", join(MODELS_DIR, "order-risk"), "--id", "../x", "--persist-to", persist),
      /not a valid model id/,
    );
    await assert.rejects(cli("models-push.ts"), /Usage: npm run models:push/);
  });
});
