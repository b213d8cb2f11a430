import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ZodType, z } from "zod";
import { type AppEnv, DEFAULT_MAX_BODY_BYTES, positiveNumber } from "./env.js";
import { ApiError } from "./errors.js";

/** Parses a JSON body once, at the edge of the app: bytes, then UTF-8, then JSON, then the schema. */
export async function readJson<S extends ZodType>(c: Context<AppEnv>, schema: S): Promise<z.infer<S>> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength === 0) {
    throw new ApiError(400, "The request body is empty; send a JSON object.", "invalid_json");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError(400, "The request body is not valid UTF-8.", "invalid_utf8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : "";
    throw new ApiError(400, `The request body is not valid JSON: ${detail}`, "invalid_json");
  }
  const result = schema.safeParse(value);
  if (!result.success) throw requestError(result.error.issues[0]);
  return result.data;
}

/**
 * A field the schema does not know (strict objects) is one the service does not implement, so
 * the client hears which one instead of having it dropped.
 */
function requestError(issue: z.core.$ZodIssue | undefined): ApiError {
  if (!issue) return new ApiError(400, "Invalid request body.", "invalid_value");
  if (issue.code === "unrecognized_keys") {
    const param = formatPath([...issue.path, issue.keys[0] ?? ""]);
    return new ApiError(
      400,
      `${param} is not supported by this service${issue.keys.length > 1 ? ` (nor ${issue.keys.slice(1).join(", ")})` : ""}.`,
      "unsupported_parameter",
      param,
    );
  }
  const param = issue.path.length > 0 ? formatPath(issue.path) : null;
  return new ApiError(400, `${param ?? "body"}: ${issue.message}`, "invalid_value", param);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) =>
      typeof part === "number" ? `[${part}]` : `${index === 0 ? "" : "."}${String(part)}`,
    )
    .join("");
}

export const limitBody: MiddlewareHandler<AppEnv> = (c, next) => {
  const maxSize = positiveNumber(c.env.MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES);
  return bodyLimit({
    maxSize,
    onError: (ctx) =>
      ctx.json(
        new ApiError(
          413,
          `The request body is larger than the limit of ${maxSize} bytes.`,
          "body_too_large",
        ).toBody(),
        413,
      ),
  })(c, next);
};

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  if (error instanceof ApiError) {
    // Server-side failures get one log line; a client's mistakes are the client's to read.
    if (error.status >= 500) console.error(JSON.stringify({ status: error.status, ...error.toBody().error }));
    return c.json(error.toBody(), error.status);
  }
  // Middleware that builds its own error response (hono/bearer-auth) throws it inside the exception.
  if (error instanceof HTTPException && error.res) return c.newResponse(error.res.body, error.res);
  if (error instanceof HTTPException && error.status < 500) {
    return c.json(new ApiError(400, error.message || "Bad request.", "bad_request").toBody(), 400);
  }
  // The stack goes to the log, with the request id to find it by; the client gets none of it.
  console.error(
    JSON.stringify({ level: "error", request_id: c.get("requestId"), error: error.stack ?? String(error) }),
  );
  const internal = new ApiError(500, "The server failed to handle the request.", "internal_error");
  return c.json(internal.toBody(), 500);
};

/** A GET or HEAD carries no body: one that does is malformed, and a way to smuggle a second request. */
export const noBodyOnRead: MiddlewareHandler<AppEnv> = async (c, next) => {
  const reads = c.req.method === "GET" || c.req.method === "HEAD";
  const length = Number(c.req.header("content-length") ?? "0");
  if (reads && (c.req.header("transfer-encoding") !== undefined || length > 0)) {
    throw new ApiError(400, `A ${c.req.method} request carries no body.`, "unexpected_body");
  }
  await next();
};
