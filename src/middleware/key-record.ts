import { z } from "zod";

/**
 * How API keys are stored, shared by the worker and `npm run keys:create`. Each key is one secret
 * (or `.dev.vars` line) named `API_KEY_<NAME>`, holding the key's SHA-256 and optionally the model
 * ids it may use: adding or revoking a key touches nothing else, and checking one needs no I/O.
 */
export const KEY_VAR_PREFIX = "API_KEY_";

export const keyRecordSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex SHA-256"),
  models: z.array(z.string().min(1)).min(1).optional(),
});

export type KeyRecord = z.infer<typeof keyRecordSchema>;

/** `ci-bot` -> `API_KEY_CI_BOT`: secret names are upper-case letters, digits and '_'. */
export function keyVarName(name: string): string {
  const normalized = name
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "_")
    .replace(/^_|_$/g, "");
  if (normalized === "") throw new Error(`'${name}' has no letter or digit to name a key by.`);
  return `${KEY_VAR_PREFIX}${normalized}`;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function formatKeyRecord(record: KeyRecord): string {
  return JSON.stringify(record);
}

/** A stored record, or undefined when the value is not one (a typo in a secret). */
export function parseKeyRecord(text: string): KeyRecord | undefined {
  try {
    const parsed = keyRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
