import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { benchEmbeddings } from "./embeddings.js";
import { benchFoundation } from "./foundation.js";
import { benchGeneration } from "./generation.js";
import { benchTranslation } from "./translation.js";

/**
 * `npm run bench [-- --only SECTION] [--models a,b]`: runs the benchmarks, prints markdown and
 * writes bench/RESULTS.md.
 */
const sections: Record<string, (models?: string[]) => Promise<string>> = {
  foundation: benchFoundation,
  generation: benchGeneration,
  translation: benchTranslation,
  embeddings: benchEmbeddings,
};

const { values } = parseArgs({ options: { only: { type: "string" }, models: { type: "string" } } });
const models = values.models?.split(",");
const chosen = values.only ? [values.only] : Object.keys(sections);
const parts: string[] = [
  `Machine: ${process.arch}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
];
for (const name of chosen) {
  const section = sections[name];
  if (!section) throw new Error(`Unknown benchmark '${name}'; have: ${Object.keys(sections).join(", ")}`);
  const report = await section(models);
  if (report) parts.push(report);
}
const report = `${parts.join("\n\n")}\n`;
process.stdout.write(report);
await writeFile(new URL("./RESULTS.md", import.meta.url), report);
