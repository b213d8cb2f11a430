import type { Context } from "hono";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import type { ModelRegistry } from "../runtime/registry.js";

/**
 * The registry as one request sees it. Every route and task finds a model through
 * `registry.manifest(id)` or `registry.list()`, whether the id came from the body (OpenAI), the
 * path (Workers AI, KServe v2) or a default (the one translator, a knowledge base's embedder), so
 * this is the one place a key's model list is enforced, with no route parsing a body twice. It also
 * notes the model for the access log, and ties shared loads to the request's `waitUntil` (see
 * `ModelRegistry.keepAlive`). Everything else is the shared registry itself.
 */
export function requestRegistry(registry: ModelRegistry, c: Context<AppEnv>): ModelRegistry {
  const allowed = (id: string) => {
    const models = c.get("apiKey")?.models;
    return models === undefined || models.includes(id);
  };
  const keepAlive = (work: Promise<unknown>) => c.executionCtx.waitUntil(work.catch(() => undefined));
  const scoped: Pick<ModelRegistry, "manifest" | "list" | "keepAlive" | "session" | "asset"> = {
    keepAlive,
    session(manifest, file) {
      const loading = registry.session(manifest, file);
      keepAlive(loading);
      return loading;
    },
    asset(manifest, name, cost, build) {
      const loading = registry.asset(manifest, name, cost, build);
      keepAlive(loading);
      return loading;
    },
    manifest(id) {
      c.set("model", id);
      if (!allowed(id)) {
        return Promise.reject(
          new ApiError(403, `This API key may not use the model '${id}'.`, "model_not_allowed", "model"),
        );
      }
      return registry.manifest(id);
    },
    async list() {
      return (await registry.list()).filter((manifest) => allowed(manifest.id));
    },
  };
  return new Proxy(registry, {
    get(target, property) {
      if (Object.hasOwn(scoped, property)) return scoped[property as keyof typeof scoped];
      const value: unknown = Reflect.get(target, property, target);
      // Bound to the shared registry so its own state (caches, counters) is never copied.
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
