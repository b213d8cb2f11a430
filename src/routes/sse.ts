import type { Context } from "hono";
import { ApiError } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";

/** A data line, or a named event (the Responses API names each of its events). */
export type SseEvent = string | { event: string; data: string };

/**
 * A server-sent-events response that owns the request's model lease and releases it exactly
 * once: when the events end, when producing them fails, or when the client goes away.
 *
 * Events are produced only when the client pulls, so nothing is generated ahead of a slow
 * reader. A disconnect is seen through the request's signal (workerd's `enable_request_signal`)
 * or the stream's cancellation, whichever comes first; the lease is released right there, not
 * after the producer notices, because a cancelled request's pending timers never fire.
 */
export function streamEvents(
  c: Context,
  lease: Lease<unknown>,
  events: (signal: AbortSignal) => AsyncGenerator<SseEvent>,
): Response {
  const abort = new AbortController();
  const produced = events(abort.signal);
  const encoder = new TextEncoder();
  const stop = () => {
    if (abort.signal.aborted) return;
    abort.abort();
    lease.release();
    produced.return(undefined).catch(() => undefined);
  };
  const clientSignal = c.req.raw.signal;
  clientSignal.addEventListener("abort", stop, { once: true });
  const end = () => {
    clientSignal.removeEventListener("abort", stop);
    lease.release();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await produced.next();
        if (abort.signal.aborted) return;
        if (next.done) {
          controller.close();
          end();
        } else {
          controller.enqueue(encoder.encode(formatEvent(next.value)));
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        // Headers are gone already: the error travels in the stream, as OpenAI's does.
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(streamError(error))}\n\n`));
        controller.close();
        end();
      }
    },
    cancel: stop,
  });
  return c.body(body, 200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
  });
}

function formatEvent(event: SseEvent): string {
  return typeof event === "string" ? `data: ${event}\n\n` : `event: ${event.event}\ndata: ${event.data}\n\n`;
}

function streamError(error: unknown) {
  if (error instanceof ApiError) return error.toBody();
  console.error(error);
  return new ApiError(500, "The server failed while streaming the response.", "internal_error").toBody();
}
