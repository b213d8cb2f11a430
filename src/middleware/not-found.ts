import type { Hono, NotFoundHandler } from "hono";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";

/**
 * 405 with `Allow` when the path has routes for other methods, else 404. Asks the app's own
 * router, so it follows whatever routes are mounted.
 */
export function routeNotFound(app: Hono<AppEnv>): NotFoundHandler<AppEnv> {
  return (c) => {
    const path = c.req.path;
    const methods = [...new Set(app.routes.map((route) => route.method))].filter(
      (method) =>
        method !== "ALL" && app.router.match(method, path)[0].some(([[, route]]) => route.method === method),
    );
    if (methods.length === 0) {
      const error = new ApiError(404, `No route for ${c.req.method} ${path}.`, "unknown_route");
      return c.json(error.toBody(), 404);
    }
    // Hono answers HEAD with the GET handler.
    if (methods.includes("GET")) methods.push("HEAD");
    const error = new ApiError(
      405,
      `${path} does not accept ${c.req.method}; use ${methods.join(" or ")}.`,
      "method_not_allowed",
    );
    return c.json(error.toBody(), 405, { Allow: methods.join(", ") });
  };
}
