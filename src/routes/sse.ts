import type { Context } from "hono";
import { ApiError } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";

/**
 * A server-sent-events response that owns the request's model lease and releases it exactly
 * once: when the events end, when producing them fails, or when the client goes away.
 *
 * Events are produced only when the client pulls (no buffer in between), so a client that
 * disconnects can never leave the producer waiting on a write that no one will read: the
 * stream is cancelled, the signal aborts, and the producer stops within one step.
 */
export function streamEvents(
  c: Context,
  lease: Lease<unknown>,
  events: (signal: AbortSignal) => AsyncGenerator<string>,
): Response {
  const abort = new AbortController();
  const produced = events(abort.signal);
  const encoder = new TextEncoder();
  let pulling = false;
  let finished = false;
  const finish = async () => {
    if (finished) return;
    finished = true;
    try {
      await produced.return(undefined);
    } finally {
      lease.release();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      pulling = true;
      try {
        const next = await produced.next();
        if (abort.signal.aborted) return;
        if (next.done) {
          controller.close();
          await finish();
        } else {
          controller.enqueue(encoder.encode(`data: ${next.value}\n\n`));
        }
      } catch (error) {
        // Headers are gone already: the error travels in the stream, as OpenAI's does.
        if (!abort.signal.aborted) {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(streamError(error))}\n\n`));
          controller.close();
        }
        await finish();
      } finally {
        pulling = false;
        if (abort.signal.aborted) await finish();
      }
    },
    async cancel() {
      abort.abort();
      if (!pulling) await finish();
    },
  });
  return c.body(body, 200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
  });
}

function streamError(error: unknown) {
  if (error instanceof ApiError) return error.toBody();
  console.error(error);
  return new ApiError(500, "The server failed while streaming the response.", "internal_error").toBody();
}
