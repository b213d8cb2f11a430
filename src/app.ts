import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { timing } from "hono/timing";
import { type AppEnv, DEFAULT_BUDGET_MB, DEFAULT_RUN_MEMORY_MB, type Env, positiveNumber } from "./env.js";
import { limitBody, noBodyOnRead, onError } from "./http.js";
import type { ImageCodecs } from "./image/decode.js";
import { accessLog } from "./middleware/access-log.js";
import { apiKeyAuth } from "./middleware/auth.js";
import { corsFromEnv } from "./middleware/cors.js";
import { requestRegistry } from "./middleware/model-scope.js";
import { routeNotFound } from "./middleware/not-found.js";
import { rateLimit } from "./middleware/rate-limit.js";
import { captionRoute } from "./routes/caption.js";
import { classifyRoute } from "./routes/classify.js";
import { embeddings } from "./routes/embeddings.js";
import { health } from "./routes/health.js";
import { kb } from "./routes/kb.js";
import { models } from "./routes/models.js";
import { oip } from "./routes/oip.js";
import { openai } from "./routes/openai.js";
import { openapi } from "./routes/openapi.js";
import { responses } from "./routes/responses.js";
import { stats } from "./routes/stats.js";
import { translateRoute } from "./routes/translate.js";
import { workersAi } from "./routes/workers-ai.js";
import type { OrtRuntime } from "./runtime/ort.js";
import { DEFAULT_MANIFEST_TTL_MS, ModelRegistry } from "./runtime/registry.js";

/**
 * The Hono app: middleware and routes. `startOrt` and `imageCodecs` are how this host starts
 * onnxruntime and decodes images (workerd's precompiled wasm modules in the worker), so the app
 * itself can be imported anywhere, e.g. to list its routes.
 */
export function createApp(startOrt: () => Promise<OrtRuntime>, imageCodecs: ImageCodecs): Hono<AppEnv> {
  /**
   * The one piece of global state: this isolate's registry (loaded sessions, manifests, counters).
   * Created on the first request, because bindings arrive with requests and workerd forbids
   * most work at global scope.
   */
  let registry: ModelRegistry | undefined;
  const registryFor = (env: Env): ModelRegistry => {
    registry ??= new ModelRegistry({
      store: env.MODELS,
      startOrt,
      budgetBytes: positiveNumber(env.MODEL_MEMORY_BUDGET_MB, DEFAULT_BUDGET_MB) * 1024 * 1024,
      runAllowanceBytes: positiveNumber(env.RUN_MEMORY_MB, DEFAULT_RUN_MEMORY_MB) * 1024 * 1024,
      batching: env.BATCHING !== "off",
      manifestTtlMs: positiveNumber(env.MANIFEST_TTL_MS, DEFAULT_MANIFEST_TTL_MS),
    });
    return registry;
  };

  const app = new Hono<AppEnv>();
  app.onError(onError);
  app.notFound(routeNotFound(app));
  // A client's X-Request-Id is kept only if it is at most 128 of [A-Za-z0-9_=-], so it is safe to
  // log and echo as is; otherwise a UUID replaces it.
  app.use("*", requestId({ limitLength: 128 }));
  app.use("*", accessLog);
  app.use("*", noBodyOnRead);
  app.use("*", corsFromEnv);
  app.use("*", async (c, next) => {
    c.set("registry", requestRegistry(registryFor(c.env), c));
    c.set("imageCodecs", imageCodecs);
    await next();
  });
  // Registered before the key check and the limiter, so health probes and the API's description
  // need neither (the pages under public/ are static assets, served before the worker runs).
  app.route("/", health);
  app.route("/", openapi);
  app.use("*", apiKeyAuth);
  app.use("*", rateLimit);
  app.use("*", limitBody);
  app.use("/v2/models/*", timing({ total: true }));

  app.route("/", models);
  app.route("/", stats);
  app.route("/", oip);
  app.route("/", openai);
  app.route("/", responses);
  app.route("/", translateRoute);
  app.route("/", captionRoute);
  app.route("/", embeddings);
  app.route("/", classifyRoute);
  app.route("/", kb);
  app.route("/", workersAi);
  return app;
}
