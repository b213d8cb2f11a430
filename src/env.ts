import type { ImageCodecs } from "./image/decode.js";
import type { ApiKey } from "./middleware/auth.js";
import type { ModelRegistry } from "./runtime/registry.js";

/** Bindings and variables from wrangler.toml. */
export interface Env {
  MODELS: R2Bucket;
  MODEL_MEMORY_BUDGET_MB?: string;
  /** What one model run may add to ORT's memory; larger work is split, or refused before it runs. */
  RUN_MEMORY_MB?: string;
  /** "off": concurrent generations take turns step by step instead of sharing batched steps. */
  BATCHING?: string;
  MAX_BODY_BYTES?: string;
  /** "off" serves without API keys (`npm run dev` sets it); anything else requires one. */
  AUTH?: string;
  /** Other names for local models (Workers AI ids such as `@cf/...`): a JSON object, alias to model. */
  MODEL_ALIASES?: string;
  /** Origins browsers may call from, comma-separated, or "*". */
  CORS_ORIGINS?: string;
  /** Requests per key (per client IP without one); without the binding nothing is limited. */
  RATE_LIMITER?: RateLimit;
  /** One secret per API key, written by `npm run keys:create` (see middleware/key-record.ts). */
  [name: `API_KEY_${string}`]: string | undefined;
  /**
   * Hosts image URLs may be fetched from (comma-separated, or "*"); unset or empty: only inline
   * images are accepted. One request's downloads share MAX_BODY_BYTES.
   */
  IMAGE_URL_HOSTS?: string;
  /** How long one request may spend fetching its images (5000 by default). */
  IMAGE_FETCH_TIMEOUT_MS?: string;
  /** How long an isolate trusts a manifest before reading it again (30000 by default). */
  MANIFEST_TTL_MS?: string;
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
/** 16 MB of ORT's own, 80 of models, 16 for the largest run, 16 of JS heap: the 128 MB isolate. */
export const DEFAULT_RUN_MEMORY_MB = 16;
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

export function positiveNumber(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
}
