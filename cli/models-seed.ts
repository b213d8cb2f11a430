import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FolderError } from "./lib/folder-error.js";
import { parseEntries, pushKnowledgeBase } from "./lib/kb.js";
import { ADAPTER_CONFIG, pushAdapter, readAdapterConfig } from "./lib/lora/adapter.js";
import { pushModel } from "./lib/push.js";
import { localTarget } from "./lib/targets.js";

/**
 * Pushes every bundled model under models/ to the local dev R2 (unchanged ones are skipped), then
 * the LoRA adapters under models/adapters/ over the base their adapter_config.json names, then
 * embeds the sample knowledge bases listed in kb/knowledge-bases.json.
 */
const { values } = parseArgs({ options: { "persist-to": { type: "string" }, models: { type: "string" } } });
interface KbConfig {
  id: string;
  file: string;
  model: string;
  field: string;
}

const root = values.models ?? "models";
const ADAPTERS = "adapters";
const adapters = await readdir(join(root, ADAPTERS), { withFileTypes: true }).then(
  (entries) =>
    entries
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort(),
  () => [],
);
const folders = (await readdir(root, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory() && entry.name !== "recipes" && entry.name !== ADAPTERS)
  .map((entry) => entry.name)
  .sort();

const target = await localTarget(values["persist-to"]);
let failed = 0;
try {
  const pushed = new Set<string>();
  for (const id of folders) {
    try {
      await pushModel(target, { folder: join(root, id), id });
      pushed.add(id);
    } catch (error) {
      if (!(error instanceof FolderError)) throw error;
      // One broken folder should not keep `npm run dev` from serving the others.
      failed += 1;
      console.error(`models:seed: skipped ${id}: ${error.message}`);
    }
  }
  for (const id of adapters) {
    const folder = join(root, ADAPTERS, id);
    try {
      const config = readAdapterConfig(JSON.parse(await readFile(join(folder, ADAPTER_CONFIG), "utf8")));
      if (!config.baseName || !pushed.has(config.baseName)) {
        throw new FolderError(
          `its base '${config.baseName ?? "(none named)"}' is not among the pushed models`,
        );
      }
      await pushAdapter(target, { folder, id, base: config.baseName });
    } catch (error) {
      if (!(error instanceof FolderError)) throw error;
      failed += 1;
      console.error(`models:seed: skipped adapter ${id}: ${error.message}`);
    }
  }
  const bases = JSON.parse(await readFile(join("kb", "knowledge-bases.json"), "utf8")) as KbConfig[];
  for (const base of bases) {
    if (!pushed.has(base.model)) continue;
    const entries = parseEntries(await readFile(join("kb", base.file), "utf8"), base.field);
    await pushKnowledgeBase(target, { id: base.id, model: base.model, entries, quiet: true });
    console.error(`${base.id}: knowledge base of ${entries.length} entries embedded with ${base.model}`);
  }
} finally {
  await target.close();
}
if (failed > 0) console.error(`models:seed: ${failed} folder(s) skipped`);
