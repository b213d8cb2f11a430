import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";

/**
 * The binding does not say when its window ends. 60 s is the longest period it supports, and after
 * one full period every counted request has left the window, so a client waiting this long is
 * never refused again for the same requests, whatever the configured period.
 */
const RETRY_AFTER_SECONDS = 60;

/**
 * Counts requests with the RATE_LIMITER binding: per API key, or per client IP when the request
 * has none (auth off). Cloudflare sets `cf-connecting-ip` itself, so a client cannot choose it.
 * Without the binding nothing is limited.
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const limiter = c.env.RATE_LIMITER;
  if (!limiter) return next();
  const key = c.get("apiKey");
  const subject = key ? `key:${key.name}` : `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;
  const { success } = await limiter.limit({ key: subject });
  if (success) return next();
  const error = new ApiError(
    429,
    `Rate limit reached for ${key ? `the API key '${key.name}'` : "your IP address"}; retry after ${RETRY_AFTER_SECONDS} s.`,
    "rate_limit_exceeded",
  );
  return c.json(error.toBody(), 429, { "Retry-After": String(RETRY_AFTER_SECONDS) });
};
