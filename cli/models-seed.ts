import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
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
try {
  for (const id of folders) await pushModel(target, { folder: join(root, id), id });
} finally {
  await target.close();
}
