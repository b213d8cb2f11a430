import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { describe, test } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import { PUBLIC_DIR } from "../../host/paths.js";

/**
 * The app and its document, imported by a specifier tsc does not follow: their types name Workers
 * globals (R2Bucket, ...) that this Node project's type check does not load. What the test uses is
 * typed here.
 */
const load = <T>(module: string): Promise<T> => import(module);
const { createApp } = await load<{
  createApp(startOrt: () => Promise<never>): { routes: { method: string; path: string }[] };
}>("../../src/app.js");
const { openApiDocument } = await load<{ openApiDocument(): unknown }>("../../src/openapi/document.js");

/** The app's own routes, without starting onnxruntime (nothing here runs a model). */
const app = createApp(() => Promise.reject(new Error("no runtime in this test")));

interface Document {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: object }> } }>>;
  components: { schemas: Record<string, object> };
}
const doc = openApiDocument() as Document;

/** Hono's `/ai/run/:model{.+}` as OpenAPI's `/ai/run/{model}`. */
const openApiPath = (path: string) => path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}");

describe("OpenAPI document", () => {
  test("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Record<string, unknown>);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, "3.1");
  });

  test("lists every route the app serves, and nothing it does not", async () => {
    const routes = app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method.toLowerCase()} ${openApiPath(route.path)}`);
    assert.ok(routes.length > 20, `found ${routes.length} routes`);
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method} ${path}`),
    );
    const missing = routes.filter((route) => !documented.includes(route));
    assert.deepEqual(missing, [], "routes missing from the document");
    // The pages are static assets served in front of the worker, not Hono routes.
    const pages = (await readdir(PUBLIC_DIR))
      .filter((name) => name.endsWith(".html"))
      .map((name) => `get /${name === "index.html" ? "" : name.replace(/\.html$/, "")}`);
    const extra = documented.filter((route) => !routes.includes(route) && !pages.includes(route));
    assert.deepEqual(extra, [], "documented routes the app does not have");
  });

  test("request schemas are strict JSON Schema 2020-12 and agree with the routes' zod schemas", () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema(schema, name);
    const accepts = (name: string, body: unknown) => ajv.validate(name, body);
    assert.ok(
      accepts("ChatCompletionRequest", {
        model: "shop-assistant",
        messages: [{ role: "user", content: "hi" }],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 16,
      }),
    );
    assert.ok(
      !accepts("ChatCompletionRequest", {
        model: "m",
        messages: [{ role: "user", content: "hi" }],
        tools: [],
      }),
    );
    assert.ok(!accepts("ChatCompletionRequest", { model: "m", messages: [{ role: "tool", content: "42" }] }));
    assert.ok(accepts("ResponseRequest", { model: "m", input: "hi", instructions: "Be brief." }));
    assert.ok(
      accepts("ResponseRequest", {
        model: "m",
        input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }],
      }),
    );
    assert.ok(!accepts("ResponseRequest", { model: "m", input: "hi", previous_response_id: "resp_1" }));
    assert.ok(accepts("EmbeddingsRequest", { model: "m", input: ["a", "b"], encoding_format: "base64" }));
    assert.ok(accepts("WorkersAiTextGeneration", { prompt: "hi", raw: true }));
  });

  test("Workers AI's route takes the body of the model's task", () => {
    const body = doc.paths["/ai/run/{model}"]?.post?.requestBody?.content["application/json"]?.schema as {
      oneOf: { $ref: string }[];
    };
    assert.deepEqual(
      body.oneOf.map((s) => s.$ref.split("/").at(-1)),
      ["WorkersAiTextGeneration", "WorkersAiTranslation", "WorkersAiEncoder"],
    );
  });
});
