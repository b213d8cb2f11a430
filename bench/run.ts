import { mkdir, readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { benchCaptioning } from "./captioning.js";
import { benchConcurrency } from "./concurrency.js";
import { benchEmbeddings } from "./embeddings.js";
import { benchFoundation } from "./foundation.js";
import { benchGeneration } from "./generation.js";
import { benchInt8Kernels } from "./int8-kernels.js";
import { benchLora } from "./lora.js";
import { benchMemory } from "./memory.js";
import { benchProfile } from "./profile.js";
import { benchQuantize } from "./quantize.js";
import { benchScale } from "./scale.js";
import { benchTranslation } from "./translation.js";

/**
 * `npm run bench [-- --only SECTION] [--models a,b]`: runs the benchmarks and prints markdown. Each
 * section's report goes to bench/results/<section>.md (so a section can be rerun alone on an idle
 * machine), and bench/RESULTS.md is rebuilt from all of them.
 */
const sections: Record<string, (models?: string[]) => Promise<string>> = {
  foundation: benchFoundation,
  generation: benchGeneration,
  translation: benchTranslation,
  embeddings: benchEmbeddings,
  quantize: benchQuantize,
  kernels: benchInt8Kernels,
  memory: benchMemory,
  captioning: benchCaptioning,
  scale: benchScale,
  lora: benchLora,
  concurrency: benchConcurrency,
  profile: benchProfile,
};

const { values } = parseArgs({ options: { only: { type: "string" }, models: { type: "string" } } });
const models = values.models?.split(",");
const chosen = values.only ? [values.only] : Object.keys(sections);
const machine = `Machine: ${process.arch}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
const resultsDir = new URL("./results/", import.meta.url);
await mkdir(resultsDir, { recursive: true });
for (const name of chosen) {
  const section = sections[name];
  if (!section) throw new Error(`Unknown benchmark '${name}'; have: ${Object.keys(sections).join(", ")}`);
  const report = await section(models);
  if (!report) continue;
  process.stdout.write(`${report}\n\n`);
  // a --models subset is printed, not saved over the full section
  if (!models) await writeFile(new URL(`${name}.md`, resultsDir), `${machine}\n\n${report}\n`);
}

const saved: string[] = [];
for (const name of Object.keys(sections)) {
  try {
    saved.push((await readFile(new URL(`${name}.md`, resultsDir), "utf8")).trim());
  } catch {
    // a section never run on this checkout has no file yet
  }
}
const intro =
  "Each section was run alone on an otherwise idle machine with `npm run bench -- --only <section>`; its own first line says when and where.";
await writeFile(new URL("./RESULTS.md", import.meta.url), `${[intro, ...saved].join("\n\n")}\n`);
