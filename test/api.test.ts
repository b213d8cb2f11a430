import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import OpenAI from "openai";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import { expectError } from "./helpers/assertions.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");

/** Keys made by the real `npm run keys:create`, and the secrets it stored for them in a .dev.vars file. */
async function createKeys(specs: Record<string, string | undefined>) {
  const dir = await mkdtemp(join(tmpdir(), "keys-"));
  try {
    const devVars = join(dir, ".dev.vars");
    const keys: Record<string, string> = {};
    for (const [name, models] of Object.entries(specs)) {
      const args = ["--import", "tsx", "cli/keys-create.ts", "--name", name, "--dev-vars", devVars];
      const { stdout } = await run(process.execPath, models ? [...args, "--models", models] : args, {
        cwd: ROOT,
      });
      keys[name] = stdout.trim();
    }
    const secrets: Record<string, string> = {};
    for (const line of (await readFile(devVars, "utf8")).trim().split("\n")) {
      const match = /^(API_KEY_\w+)='(.*)'$/.exec(line);
      assert.ok(match?.[1] && match[2], `unexpected .dev.vars line: ${line}`);
      secrets[match[1]] = match[2];
    }
    return { keys, secrets };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Miniflare's limiter counts in fixed windows aligned to the clock: start a burst well inside one. */
async function awayFromWindowEdge(periodSeconds: number) {
  const left = periodSeconds * 1000 - (Date.now() % (periodSeconds * 1000));
  if (left < 10_000) await sleep(left + 100);
}

const bearer = (key: string, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { ...init.headers, authorization: `Bearer ${key}` },
});

const json = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

const LIMIT = 20;
const ORIGIN = "https://app.example";

describe("API keys, model scopes, limits, CORS, request ids (auth on)", () => {
  let worker: TestWorker;
  let keys: Record<string, string>;
  const logs: string[] = [];
  const client = (apiKey: string) =>
    new OpenAI({ apiKey, baseURL: new URL("/v1", worker.url).href, maxRetries: 0 });

  before(async () => {
    const created = await createKeys({ full: undefined, embed: "glove-static", burst: undefined });
    keys = created.keys;
    worker = await startWorker({
      auth: "on",
      // A mistyped secret beside the real ones is skipped; every other test shows they still work.
      secrets: { ...created.secrets, API_KEY_BROKEN: "not a key record" },
      rateLimit: { limit: LIMIT, period: 60 },
      corsOrigins: `${ORIGIN}, https://other.example`,
      onLog: (line) => logs.push(line),
    });
    await worker.push(join(MODELS_DIR, "shop-assistant"), "shop-assistant");
    await worker.push(join(MODELS_DIR, "glove-static"), "glove-static");
    await worker.push(join(MODELS_DIR, "order-risk"), "order-risk");
  });
  after(() => worker.close());

  test("no key, a wrong key, a malformed header: 401, 401, 400 in OpenAI's shape; /healthz stays open", async () => {
    const missing = await worker.fetch("/v1/models");
    assert.equal(missing.headers.get("www-authenticate"), 'Bearer realm=""');
    await expectError(missing, 401, { code: "missing_api_key" });
    const wrong = await worker.fetch("/v1/models", bearer(`${keys.full}x`));
    assert.equal(wrong.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
    await expectError(wrong, 401, { code: "invalid_api_key" });
    await expectError(await worker.fetch("/v1/models", { headers: { authorization: "Basic abc" } }), 400, {
      code: "invalid_authorization_header",
    });
    const health = await worker.fetch("/healthz");
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
  });

  test("the openai client with a valid key: chat and embeddings; with a wrong key: AuthenticationError", async () => {
    const openai = client(keys.full ?? "");
    const chat = await openai.chat.completions.create({
      model: "shop-assistant",
      messages: [{ role: "user", content: "What are your opening hours?" }],
      max_tokens: 8,
    });
    assert.equal(chat.object, "chat.completion");
    assert.ok((chat.choices[0]?.message.content ?? "").length > 0);
    const embeddings = await openai.embeddings.create({ model: "glove-static", input: ["refund", "parcel"] });
    assert.equal(embeddings.data.length, 2);
    assert.equal(embeddings.data[0]?.embedding.length, 100);
    await assert.rejects(
      client("ei_not-a-key").models.list(),
      (error) => error instanceof OpenAI.AuthenticationError && error.status === 401,
    );
  });

  test("a key limited to glove-static: 403 for other models in the body or the path, 200 for its own", async () => {
    const embed = keys.embed ?? "";
    await assert.rejects(
      client(embed).chat.completions.create({
        model: "shop-assistant:fp32",
        messages: [{ role: "user", content: "hi" }],
      }),
      (error) => error instanceof OpenAI.PermissionDeniedError && error.code === "model_not_allowed",
    );
    const forbidden: [string, RequestInit][] = [
      ["/ai/run/shop-assistant", json({ prompt: "hi" })],
      ["/v2/models/order-risk", {}],
      ["/v1/models/order-risk", {}],
      ["/v1/embeddings", json({ model: "shop-assistant", input: "hi" })],
    ];
    for (const [path, init] of forbidden) {
      await expectError(await worker.fetch(path, bearer(embed, init)), 403, {
        code: "model_not_allowed",
        param: "model",
      });
    }
    const own = await client(embed).embeddings.create({ model: "glove-static:fp32", input: "refund" });
    assert.equal(own.data.length, 1);
    const listed = await client(embed).models.list();
    assert.deepEqual(
      listed.data.map((model) => model.id),
      ["glove-static"],
    );
  });

  test(`after ${LIMIT} requests in the window a key gets 429 with Retry-After; other keys do not`, async () => {
    await awayFromWindowEdge(60);
    const burst = keys.burst ?? "";
    for (let i = 0; i < LIMIT; i++) {
      const response = await worker.fetch("/v1/models", bearer(burst));
      assert.equal(response.status, 200, `request ${i + 1} of ${LIMIT}`);
    }
    const limited = await worker.fetch("/v1/models", bearer(burst));
    assert.equal(limited.headers.get("retry-after"), "60");
    await expectError(limited, 429, { code: "rate_limit_exceeded" });
    assert.equal((await worker.fetch("/v1/models", bearer(keys.full ?? ""))).status, 200);
  });

  test("CORS: a preflight from a listed origin is allowed, one from another origin gets no CORS header", async () => {
    const preflight = (origin: string) =>
      worker.fetch("/v1/chat/completions", {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type, x-stainless-os",
        },
      });
    const allowed = await preflight(ORIGIN);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(allowed.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.equal(
      allowed.headers.get("access-control-allow-headers"),
      "authorization,content-type,x-stainless-os",
    );
    const foreign = await preflight("https://evil.example");
    assert.notEqual(foreign.status, 204);
    assert.deepEqual(
      [...foreign.headers.keys()].filter((name) => name.startsWith("access-control-")),
      [],
    );
    const actual = await worker.fetch("/v1/models", bearer(keys.full ?? "", { headers: { origin: ORIGIN } }));
    assert.equal(actual.status, 200);
    assert.equal(actual.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(actual.headers.get("access-control-expose-headers") ?? "", /X-Request-Id/);
  });

  test("x-request-id: a valid one is echoed (errors too), an unsafe or overlong one is replaced", async () => {
    const sent = "client-trace_01=";
    const echoed = await worker.fetch(
      "/v1/models",
      bearer(keys.full ?? "", { headers: { "x-request-id": sent } }),
    );
    assert.equal(echoed.headers.get("x-request-id"), sent);
    const refused = await worker.fetch("/v1/models", { headers: { "x-request-id": sent } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-request-id"), sent);
    for (const unsafe of ['a"b\\c', "x".repeat(129), undefined]) {
      const response = await worker.fetch("/healthz", unsafe ? { headers: { "x-request-id": unsafe } } : {});
      assert.match(response.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    }
  });

  test("a known path with the wrong method is a 405 with Allow; an unknown path stays a 404", async () => {
    const full = keys.full ?? "";
    const getChat = await worker.fetch("/v1/chat/completions", bearer(full));
    assert.equal(getChat.headers.get("allow"), "POST");
    await expectError(getChat, 405, { code: "method_not_allowed" });
    const postHealth = await worker.fetch("/healthz", bearer(full, { method: "POST" }));
    assert.equal(postHealth.headers.get("allow"), "GET, HEAD");
    await expectError(postHealth, 405, { code: "method_not_allowed" });
    const getInfer = await worker.fetch("/v2/models/order-risk/infer", bearer(full));
    assert.equal(getInfer.headers.get("allow"), "POST");
    await expectError(await worker.fetch("/v1/nope", bearer(full)), 404, { code: "unknown_route" });
  });

  test("one JSON log line per request: route, model, key, status, duration", async () => {
    const id = `log-${Date.now()}`;
    const response = await worker.fetch(
      "/v1/embeddings",
      bearer(keys.full ?? "", {
        ...json({ model: "glove-static", input: "refund" }),
        headers: { "content-type": "application/json", "x-request-id": id },
      }),
    );
    assert.equal(response.status, 200);
    let line: Record<string, unknown> | undefined;
    for (let waited = 0; !line && waited < 3000; waited += 50) {
      const found = logs.find((entry) => entry.includes(`"request_id":"${id}"`));
      line = found ? JSON.parse(found) : undefined;
      if (!line) await sleep(50);
    }
    assert.ok(line, "no log line for the request");
    assert.equal(line.method, "POST");
    assert.equal(line.route, "/v1/embeddings");
    assert.equal(line.model, "glove-static");
    assert.equal(line.key, "FULL");
    assert.equal(line.status, 200);
    assert.equal(typeof line.duration_ms, "number");
  });
});

test("keys:create refuses a model ref with a dtype and writes nothing", async () => {
  const dir = await mkdtemp(join(tmpdir(), "keys-"));
  try {
    const devVars = join(dir, ".dev.vars");
    const args = ["--import", "tsx", "cli/keys-create.ts", "--models", "glove-static,shop-assistant:fp32"];
    await assert.rejects(
      run(process.execPath, [...args, "--dev-vars", devVars], { cwd: ROOT }),
      (error: { code?: number; stderr?: string }) =>
        error.code === 1 && /shop-assistant:fp32/.test(error.stderr ?? ""),
    );
    await assert.rejects(readFile(devVars), { code: "ENOENT" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe("a deployed worker with no key configured", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker({ auth: "on" });
  });
  after(() => worker.close());

  test("refuses every request but /healthz", async () => {
    await expectError(await worker.fetch("/v1/models"), 500, { code: "auth_not_configured" });
    await expectError(await worker.fetch("/v1/models", bearer("ei_anything")), 500, {
      code: "auth_not_configured",
    });
    assert.equal((await worker.fetch("/healthz")).status, 200);
  });
});

describe("auth off (as npm run dev runs) with a rate limiter", () => {
  let worker: TestWorker;
  before(async () => {
    worker = await startWorker({ rateLimit: { limit: 3, period: 60 } });
  });
  after(() => worker.close());

  test("requests need no key and are limited per client IP", async () => {
    await awayFromWindowEdge(60);
    const from = (ip: string) => worker.fetch("/v1/models", { headers: { "cf-connecting-ip": ip } });
    for (let i = 0; i < 3; i++) assert.equal((await from("203.0.113.7")).status, 200);
    const limited = await from("203.0.113.7");
    assert.equal(limited.headers.get("retry-after"), "60");
    await expectError(limited, 429, { code: "rate_limit_exceeded" });
    assert.equal((await from("203.0.113.8")).status, 200);
  });
});
