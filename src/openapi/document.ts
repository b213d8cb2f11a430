import { type ZodType, z } from "zod";
import { captionRequest } from "../routes/caption.js";
import { classifyRequest } from "../routes/classify.js";
import { embeddingsRequest } from "../routes/embeddings.js";
import { searchRequest } from "../routes/kb.js";
import { inferRequest } from "../routes/oip.js";
import { chatRequest, completionRequest } from "../routes/openai.js";
import { responsesRequest } from "../routes/responses.js";
import { translateRequest } from "../routes/translate.js";
import { encoderRequest, textGenerationRequest, translationRequest } from "../routes/workers-ai.js";

/**
 * The OpenAPI 3.1 document, built from the zod schemas the routes validate with, so it cannot drift
 * from what they accept. Responses are described, not schematised, except the error body every
 * route shares. test/openapi.test.ts checks that every route of the app is here.
 */
type Method = "get" | "post";
type Answer = "json" | "sse" | "html";

interface Operation {
  summary: string;
  tag: string;
  /** The request body's schema, by component name. */
  body?: keyof typeof requestSchemas;
  /** What a success looks like; a streamed route answers JSON, or SSE with `stream: true`. */
  answers?: Answer[];
  /** Served without an API key. */
  open?: boolean;
}

const errorBody = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});

const requestSchemas = {
  ChatCompletionRequest: chatRequest,
  CompletionRequest: completionRequest,
  ResponseRequest: responsesRequest,
  EmbeddingsRequest: embeddingsRequest,
  ClassifyRequest: classifyRequest,
  TranslateRequest: translateRequest,
  CaptionRequest: captionRequest,
  KnowledgeBaseSearchRequest: searchRequest,
  InferRequest: inferRequest,
  WorkersAiTextGeneration: textGenerationRequest,
  WorkersAiTranslation: translationRequest,
  WorkersAiEncoder: encoderRequest,
} satisfies Record<string, ZodType>;

const workersAiRun: Operation = {
  summary:
    "Run a model in Workers AI's shape for its task (text generation, translation, embeddings, labels)",
  tag: "Workers AI",
  answers: ["json", "sse"],
};

/** Paths in OpenAPI's `{param}` form, by method. */
export const operations: Record<string, Partial<Record<Method, Operation>>> = {
  "/": { get: { summary: "The playground (HTML)", tag: "Pages", answers: ["html"], open: true } },
  "/docs": {
    get: { summary: "This document, rendered (HTML)", tag: "Pages", answers: ["html"], open: true },
  },
  "/openapi.json": { get: { summary: "This document", tag: "Pages", open: true } },
  "/healthz": { get: { summary: "Liveness", tag: "Service", open: true } },
  "/v1/models": { get: { summary: "Models (OpenAI's list, plus task, size, variants)", tag: "Service" } },
  "/v1/models/{id}": {
    get: { summary: "One model; the id may be an alias or carry a dtype", tag: "Service" },
  },
  "/v1/stats": { get: { summary: "Loaded models, memory, cache and store counters", tag: "Service" } },
  "/v1/chat/completions": {
    post: {
      summary: "Chat completion",
      tag: "OpenAI",
      body: "ChatCompletionRequest",
      answers: ["json", "sse"],
    },
  },
  "/v1/completions": {
    post: { summary: "Text completion", tag: "OpenAI", body: "CompletionRequest", answers: ["json", "sse"] },
  },
  "/v1/responses": {
    post: {
      summary: "Responses API (not stored)",
      tag: "OpenAI",
      body: "ResponseRequest",
      answers: ["json", "sse"],
    },
  },
  "/v1/embeddings": { post: { summary: "Embeddings", tag: "OpenAI", body: "EmbeddingsRequest" } },
  "/v1/classify": { post: { summary: "Label scores, best first", tag: "Tasks", body: "ClassifyRequest" } },
  "/v1/translate": { post: { summary: "Translation", tag: "Tasks", body: "TranslateRequest" } },
  "/v1/caption": {
    post: { summary: "Captions for a batch of images", tag: "Tasks", body: "CaptionRequest" },
  },
  "/v1/kb/{kb}/search": {
    post: { summary: "Search a knowledge base", tag: "Tasks", body: "KnowledgeBaseSearchRequest" },
  },
  "/ai/run/{model}": { post: workersAiRun },
  "/client/v4/accounts/{account}/ai/run/{model}": {
    post: { ...workersAiRun, summary: `${workersAiRun.summary}, in Cloudflare's REST envelope` },
  },
  "/v2": { get: { summary: "Server metadata", tag: "Open Inference Protocol" } },
  "/v2/health/live": { get: { summary: "Server liveness", tag: "Open Inference Protocol" } },
  "/v2/health/ready": { get: { summary: "Server readiness", tag: "Open Inference Protocol" } },
  "/v2/models/{id}": { get: { summary: "Model metadata", tag: "Open Inference Protocol" } },
  "/v2/models/{id}/versions/{version}": {
    get: { summary: "Model metadata of one ONNX variant", tag: "Open Inference Protocol" },
  },
  "/v2/models/{id}/ready": { get: { summary: "Model readiness", tag: "Open Inference Protocol" } },
  "/v2/models/{id}/versions/{version}/ready": {
    get: { summary: "Readiness of one ONNX variant", tag: "Open Inference Protocol" },
  },
  "/v2/models/{id}/infer": {
    post: { summary: "Run the model on tensors", tag: "Open Inference Protocol", body: "InferRequest" },
  },
  "/v2/models/{id}/versions/{version}/infer": {
    post: {
      summary: "Run one ONNX variant on tensors",
      tag: "Open Inference Protocol",
      body: "InferRequest",
    },
  },
};

/** Only Workers AI's route takes one of several bodies: the model's task decides which. */
const bodyOf = (path: string, operation: Operation) => {
  if (operation.body) return { $ref: `#/components/schemas/${operation.body}` };
  if (operation.tag !== "Workers AI") return undefined;
  return {
    oneOf: ["WorkersAiTextGeneration", "WorkersAiTranslation", "WorkersAiEncoder"].map((name) => ({
      $ref: `#/components/schemas/${name}`,
    })),
    description: `The body ${path} expects depends on the model's task.`,
  };
};

const CONTENT: Record<Answer, Record<string, object>> = {
  json: { "application/json": {} },
  sse: { "text/event-stream": { schema: { type: "string", description: "Server-sent events" } } },
  html: { "text/html": { schema: { type: "string" } } },
};

function toOperation(path: string, method: Method, operation: Operation) {
  const params = [...path.matchAll(/\{(\w+)\}/g)].map((match) => ({
    name: match[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  const body = bodyOf(path, operation);
  const answers = operation.answers ?? ["json"];
  return {
    summary: operation.summary,
    operationId: `${method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase())}`,
    tags: [operation.tag],
    ...(operation.open ? { security: [] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(body ? { requestBody: { required: true, content: { "application/json": { schema: body } } } } : {}),
    responses: {
      "200": {
        description: answers.includes("sse")
          ? "The answer; with `stream: true`, server-sent events"
          : "The answer",
        content: Object.assign({}, ...answers.map((answer) => CONTENT[answer])),
      },
      default: {
        description: "An error, in OpenAI's shape",
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      },
    },
  };
}

function jsonSchema(schema: ZodType) {
  // Refinements (cross-field checks) have no JSON Schema form; the routes still apply them.
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "any",
  });
  return rest;
}

let built: object | undefined;

export function openApiDocument(): object {
  built ??= {
    openapi: "3.1.0",
    info: {
      title: "edge-inference",
      version: "1",
      description:
        "Small ONNX models at the edge: OpenAI's and Workers AI's shapes, the Open Inference Protocol, translation, classification and knowledge-base search. Fields a schema does not list are refused with 400 unsupported_parameter.",
    },
    servers: [{ url: "/" }],
    security: [{ apiKey: [] }],
    paths: Object.fromEntries(
      Object.entries(operations).map(([path, methods]) => [
        path,
        Object.fromEntries(
          Object.entries(methods).map(([method, operation]) => [
            method,
            toOperation(path, method as Method, operation),
          ]),
        ),
      ]),
    ),
    components: {
      securitySchemes: { apiKey: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: jsonSchema(errorBody),
        ...Object.fromEntries(
          Object.entries(requestSchemas).map(([name, schema]) => [name, jsonSchema(schema)]),
        ),
      },
    },
  };
  return built;
}
