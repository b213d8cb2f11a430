import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../env.js";

/**
 * CORS for the origins listed in CORS_ORIGINS (comma-separated, or "*"). Hono's cors() alone would
 * still answer a foreign origin's preflight with Allow-Methods and Allow-Headers, so it only runs
 * for an allowed origin: any other gets no CORS header at all, and its preflight goes on like any
 * request (and fails auth or routing). It runs before the key check because preflights carry no key.
 */
export const corsFromEnv: MiddlewareHandler<AppEnv> = (c, next) => {
  const origin = c.req.header("origin");
  const allowed = (c.env.CORS_ORIGINS ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  const any = allowed.includes("*");
  if (!origin || !(any || allowed.includes(origin))) return next();
  return cors({
    origin: any ? "*" : origin,
    // Without a list, hono/cors allows the headers the preflight asks for, which is what lets the
    // OpenAI SDKs (which add their own x-stainless-* headers) call from a browser.
    exposeHeaders: ["X-Request-Id", "Retry-After", "Server-Timing"],
    maxAge: 600,
  })(c, next);
};
