import type { ModelRegistry } from "./runtime/registry.js";

/** Bindings and variables from wrangler.toml. */
export interface Env {
  MODELS: R2Bucket;
  MODEL_MEMORY_BUDGET_MB?: string;
  MAX_BODY_BYTES?: string;
  /** Origins browsers may call from, comma-separated, or "*". */
  CORS_ORIGINS?: string;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    registry: ModelRegistry;
    requestId: string;
  };
}

export const DEFAULT_BUDGET_MB = 80;
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

export function positiveNumber(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
}
