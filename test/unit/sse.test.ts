import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { eventStream, type SseEvent } from "../../src/routes/sse-body.js";

/** The chunks of one event stream, read straight from its body, and how often it was released. */
async function chunksOf(events: () => AsyncGenerator<SseEvent>) {
  let released = 0;
  const abort = new AbortController();
  const body = eventStream(events(), {
    signal: abort.signal,
    stop: () => abort.abort(),
    release: () => released++,
  });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const chunks: string[][] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push([...decoder.decode(value).matchAll(/data: (.*)\n\n/g)].map((match) => match[1] ?? ""));
  }
  return { chunks, released };
}

test("quick events share a chunk; a slow or flushed event goes out at once; the lease is released once", async () => {
  const { chunks, released } = await chunksOf(async function* () {
    yield "opening";
    await sleep(30);
    yield { data: "first", flush: true };
    for (const id of ["q1", "q2", "q3"]) {
      await sleep(0);
      yield id;
    }
    for (const id of ["s1", "s2"]) {
      await sleep(30);
      yield id;
    }
    yield "[DONE]";
  });
  // The first text goes out the moment it exists, whatever came before it; the three quick events
  // are gathered, and the first slow one ends their chunk (its gap is read when it comes), so the
  // slow events after it go out one by one.
  const holding = (id: string) => chunks.find((chunk) => chunk.includes(id));
  assert.equal(holding("first")?.at(-1), "first");
  assert.deepEqual(holding("q1"), ["q1", "q2", "q3", "s1"]);
  assert.deepEqual(holding("s2"), ["s2"]);
  assert.deepEqual(chunks.flat(), ["opening", "first", "q1", "q2", "q3", "s1", "s2", "[DONE]"]);
  assert.equal(released, 1);
});

test("a failure after gathered events sends them first, then the error, and ends the stream", async () => {
  const { chunks, released } = await chunksOf(async function* () {
    yield "a";
    yield "b";
    throw new Error("the model failed");
  });
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0]?.slice(0, 2), ["a", "b"]);
  assert.match(chunks[0]?.[2] ?? "", /"internal_error"/);
  assert.equal(released, 1);
});

test("a flushed event ends its chunk even among quick ones", async () => {
  const { chunks } = await chunksOf(async function* () {
    for (const id of ["a", "b"]) {
      await sleep(0);
      yield id;
    }
    yield { data: "now", flush: true };
    await sleep(0);
    yield "c";
  });
  assert.equal(chunks.find((chunk) => chunk.includes("now"))?.at(-1), "now");
  assert.deepEqual(chunks.flat(), ["a", "b", "now", "c"]);
});
