import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { nodeRegistry } from "../host/engine.js";
import { MemoryStore } from "../host/memory-store.js";
import { embed, l2Normalize, openEncoder, tokenize } from "../src/tasks/encoder.js";
import { openKnowledgeBase, search } from "../src/tasks/knowledge-base.js";
import { parseEntries, pushKnowledgeBase } from "./lib/kb.js";

/**
 * `npm run kb:eval`: paraphrase retrieval on a knowledge base. Each held-out question
 * (`{query, topic, lang}`) counts as answered when the best entry has its topic. Runs the same
 * engine as the worker, in Node, and writes `<kb>.metrics.json` beside the FAQ.
 */
const { values } = parseArgs({ options: { id: { type: "string" }, model: { type: "string" } } });
const id = values.id ?? "shop-faq";
const model = values.model ?? "intent-bert";
const dir = join(import.meta.dirname, "..", "kb");

const store = new MemoryStore();
await store.push(join(import.meta.dirname, "..", "models", model), model);
const entries = parseEntries(await readFile(join(dir, `${id}.jsonl`), "utf8"), "question");
await pushKnowledgeBase(store.target(), { id, model, entries, quiet: true });
const registry = nodeRegistry(store);
const base = await openKnowledgeBase(registry, id);
const encoder = await openEncoder(registry, await registry.manifest(model));
const queries = (await readFile(join(dir, `${id}.heldout.jsonl`), "utf8"))
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as { query: string; topic: string; lang: string });

const hits: Record<string, number> = {};
const counts: Record<string, number> = {};
for (const query of queries) {
  const [vectors] = await embed(encoder.value, tokenize(encoder.value, [query.query], true).ids);
  const [best] = search(base.value, l2Normalize(vectors?.[0] ?? new Float32Array()), 1);
  for (const key of ["all", query.lang]) {
    counts[key] = (counts[key] ?? 0) + 1;
    if (best?.entry.topic === query.topic) hits[key] = (hits[key] ?? 0) + 1;
  }
}
encoder.release();
base.release();
const top1 = Object.fromEntries(
  Object.keys(counts).map((key) => [key, (hits[key] ?? 0) / (counts[key] ?? 1)]),
);
const report = {
  kb: id,
  model,
  entries: entries.length,
  queries: queries.length,
  definition: "top-1 = the highest-scoring entry has the query's topic (either language counts)",
  top1,
};
await writeFile(join(dir, `${id}.metrics.json`), `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
