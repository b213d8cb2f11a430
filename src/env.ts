import type { ImageCodecs } from "./image/decode.js";
import type { ApiKey } from "./middleware/auth.js";
import type { ModelRegistry } from "./runtime/registry.js";

/** Bindings and variables from wrangler.toml. */
export interface Env {
  MODELS: R2Bucket;
  MODEL_MEMORY_BUDGET_MB?: string;
  MAX_BODY_BYTES?: string;
  /** "off" serves without API keys (`npm run dev` sets it); anything else requires one. */
  AUTH?: string;
  /** Origins browsers may call from, comma-separated, or "*". */
  CORS_ORIGINS?: string;
  /** Requests per key (per client IP without one); without the binding nothing is limited. */
  RATE_LIMITER?: RateLimit;
  /** One secret per API key, written by `npm run keys:create` (see middleware/key-record.ts). */
  [name: `API_KEY_${string}`]: string | undefined;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    registry: ModelRegistry;
    /** The image decoders' wasm (precompiled in workerd). */
    imageCodecs: ImageCodecs;
    requestId: string;
    apiKey?: ApiKey;
    /** The model the request resolved, for the access log. */
    model?: string;
  };
}

export const DEFAULT_BUDGET_MB = 80;
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

export function positiveNumber(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
}
