import type { Context } from "hono";
import { type Lease, withLease } from "../runtime/isolate-cache.js";

/**
 * Uses an opened model for one response. The lease is released when the response is built, or at
 * once if the client goes away first (a cancelled request's pending work may never resume).
 */
export function leased<T>(
  c: Context,
  opening: Promise<Lease<T>>,
  use: (value: T) => Promise<Response>,
): Promise<Response> {
  return withLease(opening, use, c.req.raw.signal);
}
