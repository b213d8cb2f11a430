import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import type { Manifest } from "../runtime/manifest.js";
import { parseModelRef } from "../tasks/model-files.js";

const aliasMap = z.record(z.string().min(1), z.string().min(1));

/** Parsed once per value of the variable, not per request. */
let parsed: { source: string; aliases: Record<string, string> } | undefined;

function aliases(source: string | undefined): Record<string, string> {
  if (!source) return {};
  if (parsed?.source !== source) {
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch {
      value = undefined;
    }
    const result = aliasMap.safeParse(value);
    if (!result.success) {
      throw new ApiError(
        500,
        "MODEL_ALIASES is not a JSON object mapping names to model ids.",
        "aliases_misconfigured",
      );
    }
    parsed = { source, aliases: result.data };
  }
  return parsed.aliases;
}

/**
 * The local model a reference names: an alias from MODEL_ALIASES (so code written for Workers AI's
 * `@cf/...` ids runs unchanged) or the id itself, each optionally with `:dtype`. Key scopes apply to
 * the local id, which is what the registry sees.
 */
export function resolveModelRef(c: Context<AppEnv>, ref: string): { id: string; dtype?: string } {
  const table = aliases(c.env.MODEL_ALIASES);
  const whole = table[ref];
  if (whole !== undefined) return parseModelRef(whole);
  const { id, dtype } = parseModelRef(ref);
  const target = table[id];
  if (target === undefined) return { id, dtype };
  const local = parseModelRef(target);
  return { id: local.id, dtype: dtype ?? local.dtype };
}

export async function findModelFor(
  c: Context<AppEnv>,
  ref: string,
): Promise<{ manifest: Manifest; dtype?: string }> {
  const { id, dtype } = resolveModelRef(c, ref);
  return { manifest: await c.get("registry").manifest(id), dtype };
}
