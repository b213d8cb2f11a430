import assert from "node:assert/strict";

export interface ErrorShape {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** Asserts an OpenAI-style JSON error with the given status (and code/param when given). */
export async function expectError(
  response: Response,
  status: number,
  expected: { code?: string; param?: string } = {},
): Promise<ErrorShape> {
  assert.equal(response.status, status, `status ${response.status}: ${await response.clone().text()}`);
  assert.match(response.headers.get("content-type") ?? "", /application\/json/);
  const body = (await response.json()) as { error: ErrorShape };
  assert.equal(typeof body.error?.message, "string");
  assert.equal(typeof body.error.type, "string");
  assert.ok("param" in body.error && "code" in body.error);
  if (expected.code) assert.equal(body.error.code, expected.code, body.error.message);
  if (expected.param) assert.equal(body.error.param, expected.param, body.error.message);
  return body.error;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}
