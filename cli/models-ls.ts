import { parseArgs } from "node:util";
import { MANIFEST_FILE, MODELS_PREFIX, totalSize } from "../src/runtime/manifest.js";
import { formatBytes } from "./lib/progress.js";
import { readStoredManifest } from "./lib/push.js";
import { localTarget } from "./lib/targets.js";

/** Lists the models in the local dev R2, or (--url) those a running worker serves. */
const { values } = parseArgs({ options: { url: { type: "string" }, "persist-to": { type: "string" } } });

interface Row {
  id: string;
  task: string;
  size: number;
  files: number;
}

async function fromWorker(url: string): Promise<Row[]> {
  const response = await fetch(new URL("/v1/models", url));
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const body = (await response.json()) as {
    data: { id: string; task: string; size_bytes: number; variants: unknown[] }[];
  };
  return body.data.map((m) => ({ id: m.id, task: m.task, size: m.size_bytes, files: m.variants.length }));
}

async function fromLocal(): Promise<Row[]> {
  const target = await localTarget(values["persist-to"]);
  try {
    const keys = await target.list(MODELS_PREFIX);
    const ids = keys
      .filter((o) => o.key.endsWith(`/${MANIFEST_FILE}`))
      .map((o) => o.key.slice(MODELS_PREFIX.length, -MANIFEST_FILE.length - 1));
    const rows: Row[] = [];
    for (const id of ids) {
      const manifest = await readStoredManifest(target, id);
      if (manifest)
        rows.push({ id, task: manifest.task, size: totalSize(manifest), files: manifest.files.length });
    }
    return rows;
  } finally {
    await target.close();
  }
}

const rows = values.url ? await fromWorker(values.url) : await fromLocal();
console.log(`${"MODEL".padEnd(24)} ${"TASK".padEnd(20)} ${"SIZE".padStart(10)}  FILES`);
for (const row of rows) {
  console.log(
    `${row.id.padEnd(24)} ${row.task.padEnd(20)} ${formatBytes(row.size).padStart(10)}  ${row.files}`,
  );
}
