import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FolderError } from "./lib/model-folder.js";
import { pushModel } from "./lib/push.js";
import { localTarget } from "./lib/targets.js";

/** Pushes every bundled model under models/ to the local dev R2; unchanged ones are skipped. */
const { values } = parseArgs({ options: { "persist-to": { type: "string" }, models: { type: "string" } } });
const root = values.models ?? "models";
const folders = (await readdir(root, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory() && entry.name !== "recipes")
  .map((entry) => entry.name)
  .sort();

const target = await localTarget(values["persist-to"]);
let failed = 0;
try {
  for (const id of folders) {
    try {
      await pushModel(target, { folder: join(root, id), id });
    } catch (error) {
      if (!(error instanceof FolderError)) throw error;
      // One broken folder should not keep `npm run dev` from serving the others.
      failed += 1;
      console.error(`models:seed: skipped ${id}: ${error.message}`);
    }
  }
} finally {
  await target.close();
}
if (failed > 0) console.error(`models:seed: ${failed} folder(s) skipped`);
