import { ApiError } from "../errors.js";

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

/** What a stream's owner gives it: its abort signal, and how to end it from either side. */
export interface StreamOwner {
  /** Aborted when the client went away (the owner then has released what the stream held). */
  signal: AbortSignal;
  /** The client is gone: stop producing and release. */
  stop(): void;
  /** The events ended (or failed): release what the stream held. */
  release(): void;
}

/**
 * The response body of `produced`'s events. Events are produced only when the client pulls, so
 * nothing is generated ahead of a slow reader, and a consumer that stops asking for events for
 * STALLED_READER_MS is taken for gone. Events that come in quick succession share a chunk (see
 * QUICK_EVENT_MS): workerd spends about 0.1 ms on each chunk it writes, a tenth of a small model's
 * decode step and more when several streams share each step.
 */
export function eventStream(
  produced: AsyncGenerator<SseEvent>,
  owner: StreamOwner,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let stalled: ReturnType<typeof setTimeout> | undefined;
  const quiet = () => {
    if (stalled !== undefined) clearTimeout(stalled);
  };
  owner.signal.addEventListener("abort", quiet, { once: true });
  const finish = () => {
    quiet();
    owner.signal.removeEventListener("abort", quiet);
    owner.release();
  };
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
      if (!quick || flush || now - opened >= CHUNK_SPAN_MS || owner.signal.aborted) return false;
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      quiet();
      const chunk: string[] = [];
      let ended: boolean;
      try {
        ended = await gather(chunk);
      } catch (error) {
        // Headers are gone already: the error travels in the stream, as OpenAI's does.
        chunk.push(`data: ${JSON.stringify(streamError(error))}\n\n`);
        ended = true;
      }
      if (owner.signal.aborted) return;
      if (chunk.length > 0) controller.enqueue(encoder.encode(chunk.join("")));
      if (ended) {
        controller.close();
        finish();
        return;
      }
      stalled = setTimeout(() => {
        owner.stop();
        controller.error(new Error("The client stopped reading the stream."));
      }, STALLED_READER_MS);
    },
    cancel: () => owner.stop(),
  });
}

/**
 * An event that comes within this long of the one before it joins its chunk (for up to
 * CHUNK_SPAN_MS); a slower one ends the chunk. workerd's clock moves only between turns of its
 * event loop, and a generation yields one before each step, so the gap read at an event is the
 * time of the step before it. Gathered: a small model's steps (1-2 ms alone, 5-7 ms shared by 8
 * streams, each of which writes its own chunk per step). Sent one by one, as they come: steps of
 * 10 ms and more, where a chunk costs about 1%. A response's first text is marked
 * `flush`, since the step before it was the instant opening event, not its prefill.
 */
const QUICK_EVENT_MS = 8;
/** The longest a chunk gathers events for: about one frame of a 60 Hz display. */
const CHUNK_SPAN_MS = 16;

function formatEvent(event: SseEvent): string {
  if (typeof event === "string") return `data: ${event}\n\n`;
  return event.event ? `event: ${event.event}\ndata: ${event.data}\n\n` : `data: ${event.data}\n\n`;
}

function streamError(error: unknown) {
  if (error instanceof ApiError) return error.toBody();
  console.error(error);
  return new ApiError(500, "The server failed while streaming the response.", "internal_error").toBody();
}
