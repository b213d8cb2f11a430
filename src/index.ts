import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { timing } from "hono/timing";
import { type AppEnv, DEFAULT_BUDGET_MB, type Env, positiveNumber } from "./env.js";
import { limitBody, onError } from "./http.js";
import { workerdImageCodecs } from "./image/codecs-workerd.js";
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
import { stats } from "./routes/stats.js";
import { translateRoute } from "./routes/translate.js";
import { workersAi } from "./routes/workers-ai.js";
import { startOrtInWorkerd } from "./runtime/ort-workerd.js";
import { ModelRegistry } from "./runtime/registry.js";

/**
 * The one piece of global state: this isolate's registry (loaded sessions, manifests, counters).
 * Created on the first request, because bindings arrive with requests and workerd forbids
 * most work at global scope.
 */
let registry: ModelRegistry | undefined;

function registryFor(env: Env): ModelRegistry {
  registry ??= new ModelRegistry({
    store: env.MODELS,
    startOrt: startOrtInWorkerd,
    budgetBytes: positiveNumber(env.MODEL_MEMORY_BUDGET_MB, DEFAULT_BUDGET_MB) * 1024 * 1024,
  });
  return registry;
}

const app = new Hono<AppEnv>();
app.onError(onError);
app.notFound(routeNotFound(app));
// A client's X-Request-Id is kept only if it is at most 128 of [A-Za-z0-9_=-], so it is safe to
// log and echo as is; otherwise a UUID replaces it.
app.use("*", requestId({ limitLength: 128 }));
app.use("*", accessLog);
app.use("*", corsFromEnv);
app.use("*", async (c, next) => {
  c.set("registry", requestRegistry(registryFor(c.env), c));
  c.set("imageCodecs", workerdImageCodecs);
  await next();
});
// Registered before the key check and the limiter, so health probes need neither.
app.route("/", health);
app.use("*", apiKeyAuth);
app.use("*", rateLimit);
app.use("*", limitBody);
app.use("/v2/models/*", timing({ total: true }));

app.route("/", models);
app.route("/", stats);
app.route("/", oip);
app.route("/", openai);
app.route("/", translateRoute);
app.route("/", captionRoute);
app.route("/", embeddings);
app.route("/", classifyRoute);
app.route("/", kb);
app.route("/", workersAi);

export default app;
