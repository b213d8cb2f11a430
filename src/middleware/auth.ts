import type { MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import type { AppEnv, Env } from "../env.js";
import { ApiError } from "../errors.js";
import { KEY_VAR_PREFIX, parseKeyRecord, sha256Hex } from "./key-record.js";

/** The key a request authenticated with; `models` absent means every model. */
export interface ApiKey {
  name: string;
  models?: readonly string[];
}

interface StoredKey extends ApiKey {
  sha256: Uint8Array;
}

const encoder = new TextEncoder();

function storedKeys(env: Env): StoredKey[] {
  const keys: StoredKey[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(KEY_VAR_PREFIX) || typeof value !== "string") continue;
    const record = parseKeyRecord(value);
    if (!record) {
      // Skipped, not fatal: one mistyped secret must not lock out every other key.
      console.error(JSON.stringify({ level: "error", message: `${name} is not a valid API key record` }));
      continue;
    }
    keys.push({
      name: name.slice(KEY_VAR_PREFIX.length),
      models: record.models,
      sha256: encoder.encode(record.sha256),
    });
  }
  return keys;
}

async function matchKey(token: string, keys: StoredKey[]): Promise<StoredKey | undefined> {
  const presented = encoder.encode(await sha256Hex(token));
  let match: StoredKey | undefined;
  // Every stored hash is compared in constant time, so the timing says nothing about which one
  // (or how much of one) matched.
  for (const key of keys) {
    if (crypto.subtle.timingSafeEqual(presented, key.sha256)) match ??= key;
  }
  return match;
}

const errorMessage = (message: string, code: string) => ({
  message: new ApiError(401, message, code).toBody(),
});

/**
 * `Authorization: Bearer <key>`, checked against the `API_KEY_*` secrets. The key found is stored
 * as `apiKey` for the rate limiter, the model scope and the access log. `AUTH = "off"` serves
 * without keys; otherwise a worker with no key configured refuses every request that reaches here.
 */
export const apiKeyAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.env.AUTH === "off") return next();
  const keys = storedKeys(c.env);
  if (keys.length === 0) {
    throw new ApiError(
      500,
      'This server has no API keys configured. Its operator must add one (npm run keys:create) or set AUTH = "off".',
      "auth_not_configured",
    );
  }
  return bearerAuth<AppEnv>({
    verifyToken: async (token, ctx) => {
      const key = await matchKey(token, keys);
      if (key) ctx.set("apiKey", { name: key.name, models: key.models });
      return key !== undefined;
    },
    noAuthenticationHeader: errorMessage(
      "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
      "missing_api_key",
    ),
    invalidAuthenticationHeader: {
      message: new ApiError(
        400,
        "The Authorization header must be 'Bearer <key>'.",
        "invalid_authorization_header",
      ).toBody(),
    },
    invalidToken: errorMessage("Incorrect API key provided.", "invalid_api_key"),
  })(c, next);
};
