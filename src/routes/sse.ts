import type { Context } from "hono";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";

/** A data line, or a named event (the Responses API names each of its events). */
export type SseEvent = string | { event: string; data: string };

/**
 * How long a stream waits for its consumer to ask for the next event before it takes the client
 * for gone. workerd asks as soon as the previous event is written, so a live client never comes
 * near this; it must stay well under the 30 s workerd gives a request's `waitUntil` work.
 */
export const STALLED_READER_MS = 10_000;

/**
 * A server-sent-events response that owns the request's model lease and releases it exactly
 * once: when the events end, when producing them fails, or when the client goes away.
 *
 * Events are produced only when the client pulls, so nothing is generated ahead of a slow
 * reader. A disconnect is seen through the request's signal (workerd's `enable_request_signal`)
 * or the stream's cancellation, whichever comes first; the lease is released right there, not
 * after the producer notices, because a cancelled request's pending timers never fire.
 *
 * workerd reports neither when the disconnect surfaces as a failed write of the response body
 * (the client went away while an event was being written): the request then fails and its
 * context is torn down as soon as its `waitUntil` work is done, with this stream's pull still
 * pending. So the stream keeps the request alive until the lease is released, and a consumer
 * that stops asking for events for STALLED_READER_MS is taken for gone.
 */
export function streamEvents(
  c: Context<AppEnv>,
  lease: Lease<unknown>,
  events: (signal: AbortSignal) => AsyncGenerator<SseEvent>,
): Response {
  const abort = new AbortController();
  const produced = events(abort.signal);
  const encoder = new TextEncoder();
  const clientSignal = c.req.raw.signal;
  let stalled: number | null = null;
  let settle = () => {};
  c.get("registry").keepAlive(new Promise<void>((resolve) => (settle = resolve)));
  const release = () => {
    clearTimeout(stalled);
    clientSignal.removeEventListener("abort", stop);
    lease.release();
    settle();
  };
  const stop = () => {
    if (abort.signal.aborted) return;
    abort.abort();
    release();
    produced.return(undefined).catch(() => undefined);
  };
  clientSignal.addEventListener("abort", stop, { once: true });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      clearTimeout(stalled);
      try {
        const next = await produced.next();
        if (abort.signal.aborted) return;
        if (next.done) {
          controller.close();
          release();
        } else {
          controller.enqueue(encoder.encode(formatEvent(next.value)));
          stalled = setTimeout(() => {
            stop();
            controller.error(new Error("The client stopped reading the stream."));
          }, STALLED_READER_MS);
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        // Headers are gone already: the error travels in the stream, as OpenAI's does.
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(streamError(error))}\n\n`));
        controller.close();
        release();
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
