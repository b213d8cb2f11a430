import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { formatKeyRecord, keyVarName, sha256Hex } from "../src/middleware/key-record.js";
import { isValidModelId } from "../src/runtime/manifest.js";

/**
 * `npm run keys:create -- [--name x] [--models a,b] [--dev-vars file]`: makes an API key and
 * prints it once, on stdout alone so scripts can capture it. Only its SHA-256 is kept: in
 * `.dev.vars`, which `wrangler dev` (`npm run dev:auth`) reads, and in the printed command that
 * stores it as a secret of the deployed worker.
 */
const { values } = parseArgs({
  options: {
    name: { type: "string" },
    models: { type: "string" },
    "dev-vars": { type: "string", default: ".dev.vars" },
  },
});

const models = values.models
  ?.split(",")
  .map((id) => id.trim())
  .filter((id) => id !== "");
const invalid = models?.filter((id) => !isValidModelId(id)) ?? [];
if (invalid.length > 0) {
  console.error(`keys:create: not model ids (name them without ':dtype'): ${invalid.join(", ")}`);
  process.exit(1);
}

// 256 random bits: guessing is hopeless, so one SHA-256 (no slow KDF) is enough to store it.
const key = `ei_${randomBytes(32).toString("base64url")}`;
const sha256 = await sha256Hex(key);
const name = keyVarName(values.name ?? sha256.slice(0, 8));
const record = formatKeyRecord({ sha256, ...(models && models.length > 0 ? { models } : {}) });

const devVars = values["dev-vars"];
const previous = await readFile(devVars, "utf8").catch((error: NodeJS.ErrnoException) => {
  if (error.code === "ENOENT") return "";
  throw error;
});
// A key created again under the same name replaces the old one.
const lines = previous.split("\n").filter((line) => line.trim() !== "" && !line.startsWith(`${name}=`));
lines.push(`${name}='${record}'`);
await writeFile(devVars, `${lines.join("\n")}\n`);

console.log(key);
console.error(`
${name}: ${models && models.length > 0 ? `models ${models.join(", ")}` : "every model"}. The key above is shown only this once.
Local: its hash is in ${devVars}; \`npm run dev:auth\` checks keys (\`npm run dev\` runs with AUTH off).
Deployed worker: printf '%s' '${record}' | npx wrangler secret put ${name}
Revoke: npx wrangler secret delete ${name}  (and delete its line from ${devVars})`);
