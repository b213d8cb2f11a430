/** OpenAI's error body: every error the service returns has this shape. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 413 | 415 | 429 | 500 | 502 | 503;

/** An error meant for the client. Anything else that escapes a handler is a 500 without details. */
export class ApiError extends Error {
  constructor(
    readonly status: ErrorStatus,
    message: string,
    readonly code: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  get type(): string {
    if (this.status === 404) return "not_found_error";
    if (this.status >= 500) return "server_error";
    return "invalid_request_error";
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function invalidParam(param: string, message: string, code = "invalid_value"): ApiError {
  return new ApiError(400, message, code, param);
}

export function modelNotFound(id: string): ApiError {
  return new ApiError(404, `The model '${id}' does not exist.`, "model_not_found", "model");
}
