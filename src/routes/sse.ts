import type { Context } from "hono";
import type { AppEnv } from "../env.js";
import type { Lease } from "../runtime/isolate-cache.js";
import { eventStream, type SseEvent } from "./sse-body.js";

export type { SseEvent } from "./sse-body.js";

/**
 * A server-sent-events response that owns the request's model lease and releases it exactly
 * once: when the events end, when producing them fails, or when the client goes away.
 *
 * A disconnect is seen through the request's signal (workerd's `enable_request_signal`) or the
 * stream's cancellation, whichever comes first; the lease is released right there, not after the
 * producer notices, because a cancelled request's pending timers never fire.
 *
 * workerd reports neither when the disconnect surfaces as a failed write of the response body
 * (the client went away while an event was being written): the request then fails and its
 * context is torn down as soon as its `waitUntil` work is done, with this stream's pull still
 * pending. So the stream keeps the request alive until the lease is released, and a consumer
 * that stops asking for events for a while is taken for gone (sse-body.ts).
 */
export function streamEvents(
  c: Context<AppEnv>,
  lease: Lease<unknown>,
  events: (signal: AbortSignal) => AsyncGenerator<SseEvent>,
): Response {
  const abort = new AbortController();
  const produced = events(abort.signal);
  const clientSignal = c.req.raw.signal;
  let settle = () => {};
  c.get("registry").keepAlive(new Promise<void>((resolve) => (settle = resolve)));
  const release = () => {
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
  const body = eventStream(produced, { signal: abort.signal, stop, release });
  return c.body(body, 200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
  });
}
