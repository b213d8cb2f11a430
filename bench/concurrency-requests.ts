import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";
import {
  atLevel,
  failures,
  LEVELS,
  type Rounds,
  requestsPerSecond,
  runLevels,
  type Stream,
} from "./concurrency-levels.js";
import { ms, percentile, ratio, table } from "./stats.js";

/**
 * Translation and embedding requests, 1 to 16 at once, through the worker in workerd: batched
 * (concurrent requests share encoder runs and decoder steps) and with BATCHING = "off" (they take
 * turns). Each request carries one held-out phrase (greedy translation) or one held-out question
 * (an embedding), int8, so the levels differ only in how many arrive together.
 */
const TRANSLATOR = "phrase-translator";
const EMBEDDER = "intent-bert";

interface Phrase {
  source: string;
  target_lang: string;
}

async function timed(send: () => Promise<Response>): Promise<Stream> {
  const started = performance.now();
  const response = await send();
  await response.arrayBuffer();
  const at = performance.now() - started;
  return { first: at, total: at, tokens: 0, status: response.status };
}

function latency(rounds: Rounds, p: number): number {
  return percentile(
    rounds.flatMap((level) => level.streams.map((s) => s.total)),
    p,
  );
}

export async function benchRequestConcurrency(): Promise<string> {
  const phrases = (await readFile(join(MODELS_DIR, "recipes", TRANSLATOR, "heldout.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Phrase);
  const questions = (await readFile(join(MODELS_DIR, "..", "kb", "shop-faq.heldout.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { query: string }).query);

  const batched = await startWorker({ budgetMb: 80 });
  const unbatched = await startWorker({ budgetMb: 80, batching: "off" });
  const workers = { batched, 'BATCHING="off"': unbatched };
  try {
    for (const worker of [batched, unbatched]) {
      await worker.push(join(MODELS_DIR, TRANSLATOR), TRANSLATOR);
      await worker.push(join(MODELS_DIR, EMBEDDER), EMBEDDER);
    }
    // Each level starts further into the held-out sets, so rounds do not repeat the same inputs.
    let offset = 0;
    const translate = (worker: TestWorker) => (n: number) => {
      const start = offset;
      offset += n;
      return atLevel(n, (index) => {
        const phrase = phrases[(start + index) % phrases.length] as Phrase;
        return timed(() =>
          worker.post("/v1/translate", {
            model: `${TRANSLATOR}:int8`,
            text: phrase.source.replace(/^>>\w+<<\s*/, ""),
            target_lang: phrase.target_lang,
          }),
        );
      });
    };
    const embed = (worker: TestWorker) => (n: number) => {
      const start = offset;
      offset += n;
      return atLevel(n, (index) =>
        timed(() =>
          worker.post("/v1/embeddings", {
            model: `${EMBEDDER}:int8`,
            input: questions[(start + index) % questions.length],
          }),
        ),
      );
    };
    const sections: [string, Record<string, Rounds[]>][] = [
      [
        `${TRANSLATOR} (int8, greedy, one phrase per request)`,
        await runLevels(
          "translation",
          Object.fromEntries(Object.entries(workers).map(([name, worker]) => [name, translate(worker)])),
        ),
      ],
      [
        `${EMBEDDER} (int8, one question per request)`,
        await runLevels(
          "embeddings",
          Object.fromEntries(Object.entries(workers).map(([name, worker]) => [name, embed(worker)])),
        ),
      ],
    ];
    const rows = sections.flatMap(([what, results]) => {
      const base = results.batched?.[0];
      return Object.entries(results).flatMap(([name, levels]) =>
        levels.map((rounds, index) => [
          what,
          name,
          String(LEVELS[index]),
          `${requestsPerSecond(rounds).toFixed(1)} (${ratio(requestsPerSecond(rounds), base ? requestsPerSecond(base) : Number.NaN)})`,
          ms(latency(rounds, 50)),
          ms(latency(rounds, 95)),
          failures(rounds),
        ]),
      );
    });
    return [
      "### Concurrency: translation and embedding requests through the worker",
      "",
      "Requests answered per second (median of the rounds; ratio to one batched request at a time) and latency from the request to the whole answer, over every request of every round; same rounds and turns as above, each request a different held-out input.",
      "",
      table(
        ["model", "worker", "at once", "requests/s", "latency p50 ms", "latency p95 ms", "not 200"],
        rows,
      ),
    ].join("\n");
  } finally {
    await batched.close();
    await unbatched.close();
  }
}
