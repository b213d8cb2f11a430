import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../env.js";

/**
 * One JSON line per request on the console (Workers Logs and `wrangler tail` keep them as
 * structured fields). `route` is the matched pattern, so lines group by endpoint; it is absent
 * when no route matched. The duration ends when the response starts, so for a stream it is the
 * time to first byte; in production workerd's clock only moves on I/O, so CPU time is not in it.
 */
export const accessLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = Date.now();
  await next();
  const handler = matchedRoutes(c).findLast((route) => route.method !== "ALL");
  console.log(
    JSON.stringify({
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      route: handler?.path,
      model: c.get("model")?.slice(0, 200),
      key: c.get("apiKey")?.name,
      status: c.res.status,
      duration_ms: Date.now() - started,
    }),
  );
};
