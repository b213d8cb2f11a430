import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { isValidModelId } from "../src/runtime/manifest.js";
import { parseEntries, pushKnowledgeBase } from "./lib/kb.js";
import { localTarget, remoteTarget } from "./lib/targets.js";

const usage = `Usage: npm run kb:push -- <faq.jsonl> --model <embedder> [--id NAME] [--field question] [--local | --remote]

Embeds every line's text (field 'question' by default) with a model already in the bucket and
stores the knowledge base (int8 vectors + entries) beside the models, for POST /v1/kb/{id}/search.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string" },
    id: { type: "string" },
    field: { type: "string" },
    local: { type: "boolean" },
    remote: { type: "boolean" },
    "persist-to": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
const file = positionals[0];
if (values.help || !file || !values.model) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
const id = values.id ?? basename(file).replace(/\.jsonl$/, "");
if (!isValidModelId(id)) {
  console.error(`'${id}' is not a valid knowledge base id.`);
  process.exit(2);
}
const entries = parseEntries(await readFile(file, "utf8"), values.field ?? "question");
const target = values.remote ? await remoteTarget() : await localTarget(values["persist-to"]);
try {
  const manifest = await pushKnowledgeBase(target, { id, model: values.model, entries });
  console.error(
    `${id}: ${manifest.count} entries x ${manifest.dimensions} dims, pushed to ${target.description}`,
  );
} finally {
  await target.close();
}
