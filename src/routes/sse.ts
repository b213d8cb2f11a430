import type { Context } from "hono";
import type { AppEnv } from "../env.js";
import { ApiError } from "../errors.js";
import type { Lease } from "../runtime/isolate-cache.js";

/**
 * A data line, or a message: named (the Responses API names each of its events) or marked to go
 * out at once, not gathered with the events after it (a response's first text: time to first token).
 */
export type SseEvent = string | { event?: string; data: string; flush?: boolean };

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
 *
 * Events that come in quick succession share a chunk (see QUICK_EVENT_MS): workerd spends about
 * 0.4 ms on each chunk it writes, a third of a small model's decode step.
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
  let lastEventAt = Date.now();
  /** Formatted events into `chunk` until one comes slowly, asks to go out, or ends the span; true at the end. */
  const gather = async (chunk: string[]): Promise<boolean> => {
    const opened = Date.now();
    for (;;) {
      const next = await produced.next();
      if (next.done) return true;
      const now = Date.now();
      const quick = now - lastEventAt < QUICK_EVENT_MS;
      lastEventAt = now;
      chunk.push(formatEvent(next.value));
      const flush = typeof next.value !== "string" && next.value.flush === true;
      if (!quick || flush || now - opened >= CHUNK_SPAN_MS || abort.signal.aborted) return false;
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      clearTimeout(stalled);
      const chunk: string[] = [];
      let ended: boolean;
      try {
        ended = await gather(chunk);
      } catch (error) {
        // Headers are gone already: the error travels in the stream, as OpenAI's does.
        chunk.push(`data: ${JSON.stringify(streamError(error))}\n\n`);
        ended = true;
      }
      if (abort.signal.aborted) return;
      if (chunk.length > 0) controller.enqueue(encoder.encode(chunk.join("")));
      if (ended) {
        controller.close();
        release();
        return;
      }
      stalled = setTimeout(() => {
        stop();
        controller.error(new Error("The client stopped reading the stream."));
      }, STALLED_READER_MS);
    },
    cancel: stop,
  });
  return c.body(body, 200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
  });
}

/**
 * An event that comes within this long of the one before it joins its chunk (up to CHUNK_SPAN_MS
 * of them); a slower one ends the chunk. workerd's clock moves only between turns of its event
 * loop, and a generation yields one before each step, so the gap read at an event is the time of
 * the step before it: a small model's steps (1-2 ms) are gathered, a large model's go out one by
 * one, as they come. A response's first text is marked `flush`, since the step before it was the
 * instant opening event, not its prefill.
 */
const QUICK_EVENT_MS = 3;
/** The longest a chunk gathers events for: a few steps of a small model, unnoticeable to a reader. */
const CHUNK_SPAN_MS = 10;

function formatEvent(event: SseEvent): string {
  if (typeof event === "string") return `data: ${event}\n\n`;
  return event.event ? `event: ${event.event}\ndata: ${event.data}\n\n` : `data: ${event.data}\n\n`;
}

function streamError(error: unknown) {
  if (error instanceof ApiError) return error.toBody();
  console.error(error);
  return new ApiError(500, "The server failed while streaming the response.", "internal_error").toBody();
}
