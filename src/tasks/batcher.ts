import type { Tensor } from "onnxruntime-web/wasm";
import { ApiError } from "../errors.js";
import type { Feeds, ModelSession } from "../runtime/session.js";
import {
  type CausalLM,
  Choices,
  type DecodeOptions,
  decoderFeeds,
  type FinishReason,
  presentCache,
} from "./causal-lm.js";
import { loraFeedBytes } from "./lora.js";
import { type RunCost, runBytes } from "./run-memory.js";
import { SharedStep } from "./shared-step.js";
import {
  concatRows,
  keepLastPositions,
  lastLogits,
  padPositionsLeft,
  reorderRows,
  repeatRows,
} from "./tensors.js";

/**
 * Continuous batching for a decoder with a KV cache: one batched decode step for every active
 * generation on a model, instead of one run per request per token. Reading the weights dominates
 * a batch-1 step, so eight rows cost little more than one.
 *
 * A request is prefilled alone (its prompt, batch 1, exactly as it would run by itself), picks its
 * first token, and joins the batch at the next step. Rows of different lengths share a step through
 * left padding: each row's positions are right-aligned in the cache, the padding is masked out by
 * `attention_mask`, and every row gets its own `position_ids`. A finished, stopped or abandoned row
 * leaves before the next step, and the cache is compacted to the rows that remain. Every row keeps
 * its own sampler, seeded as a lone request's would be, so batching changes no answer.
 *
 * The batch is bounded: by `maxRows`, and by the per-run memory allowance over the longest the rows
 * can grow; a request that would exceed it waits for rows to leave, and a full queue is a 429.
 */
export interface Stepper {
  readonly generated: number[][];
  readonly finished: (FinishReason | undefined)[];
  readonly done: boolean;
  /** The tokens picked for this generation at its next step. */
  step(): Promise<{ choice: number; token: number }[]>;
  finish(choice: number, reason: FinishReason): void;
  /** Leaves the batch (a disconnect): every unfinished choice stops. */
  close(): void;
}

export interface BatchLimits {
  maxRows: number;
  maxQueue: number;
  cost: RunCost;
  allowance: number;
  /**
   * Where the KV cache's bytes, kept in JS between steps, are charged (the isolate's model budget),
   * for the longest the batch's rows can grow; a generation that does not fit waits for rows to leave.
   */
  memory?: { reserve(bytes: number): boolean; unreserve(bytes: number): void };
}

export interface BatchStats {
  active_rows: number;
  queued: number;
  steps: number;
  mean_batch_size: number;
  tokens: number;
  tokens_per_second: number;
}

type Picked = { choice: number; token: number }[];

class Member extends Choices implements Stepper {
  private readonly mailbox: Picked[] = [];
  private failure: unknown;

  constructor(
    options: DecodeOptions,
    private readonly batcher: DecodeBatcher,
  ) {
    super(options);
  }

  /**
   * The next step's tokens. The generation that asks first runs the batch's next step, in its own
   * request (so no request's timers carry another's work); the others wait for that step.
   */
  async step(): Promise<Picked> {
    await this.batcher.yieldTurn();
    for (;;) {
      const ready = this.mailbox.shift();
      if (ready) return ready;
      if (this.failure !== undefined) throw this.failure;
      await this.batcher.advance(this.options.keepAlive);
    }
  }

  /**
   * Finished, and every token picked for it handed out. Other generations drive the batch too, so
   * a generation that reads its tokens slower than the batch steps (a slow client) finds several
   * steps waiting, its last ones included: it is not done until it has read them.
   */
  override get done(): boolean {
    return super.done && this.mailbox.length === 0;
  }

  close(): void {
    for (let choice = 0; choice < this.finished.length; choice++) this.finish(choice, "stop");
    this.batcher.leave(this);
  }

  deliver(picked: Picked): void {
    this.mailbox.push(picked);
  }

  fail(error: unknown): void {
    this.failure = error;
  }

  /** The longest this generation can make a row. */
  get longest(): number {
    return this.options.promptIds.length + this.options.maxNewTokens;
  }
}

interface Row {
  member: Member;
  choice: number;
  /** Real positions of this row in the cache (the rest of the width is padding, on the left). */
  length: number;
}

export class DecodeBatcher {
  private rows: Row[] = [];
  private readonly queue: Member[] = [];
  private cache: Feeds | undefined;
  private width = 0;
  private readonly shared = new SharedStep();
  private steps = 0;
  private rowSteps = 0;
  private tokens = 0;
  private busyMs = 0;
  private reservedBytes = 0;
  /** The previous step prefilled newcomers instead of decoding rows that were waiting. */
  private skippedDecode = false;
  private readonly bytesPerPosition: number;

  constructor(
    private readonly lm: CausalLM,
    private readonly limits: BatchLimits,
  ) {
    const { past, kvHeads, headDim, kvType } = lm.layout;
    this.bytesPerPosition = past.length * 2 * kvHeads * headDim * (kvType === "float16" ? 2 : 4);
  }

  join(options: DecodeOptions): Stepper {
    if (this.queue.length >= this.limits.maxQueue) {
      throw new ApiError(
        429,
        `The model is serving ${this.rows.length} generations and ${this.queue.length} more are waiting; retry shortly.`,
        "model_busy",
      );
    }
    const member = new Member(options, this);
    this.queue.push(member);
    return member;
  }

  stats(): BatchStats {
    return {
      active_rows: this.rows.length,
      queued: this.queue.length,
      steps: this.steps,
      mean_batch_size: this.steps === 0 ? 0 : this.rowSteps / this.steps,
      tokens: this.tokens,
      tokens_per_second: this.busyMs === 0 ? 0 : (1000 * this.tokens) / this.busyMs,
    };
  }

  leave(member: Member): void {
    const queued = this.queue.indexOf(member);
    if (queued >= 0) this.queue.splice(queued, 1);
    // A step in progress compacts when it ends; otherwise the rows (and their cache) go now.
    if (!this.shared.running) this.compact();
  }

  yieldTurn(): Promise<void> {
    return this.lm.session.yieldTurn();
  }

  /**
   * Runs the batch's next step, or waits for the one already running. The step is kept alive past
   * the request that started it, since every other generation in the batch waits on it too.
   */
  advance(keepAlive?: (work: Promise<unknown>) => void): Promise<void> {
    return this.shared.run(() => this.runStep(), keepAlive);
  }

  /**
   * Newcomers prefilled, or one token for every active row; a failure fails every generation in it.
   * A step that prefilled ends there, so a newcomer's first token (picked from its prompt) reaches
   * its client without waiting for a decode of the whole batch; the rows already decoding skip at
   * most that one step, and decode in the next one whatever arrives meanwhile.
   */
  private async runStep(): Promise<void> {
    const started = performance.now();
    try {
      this.compact();
      const waiting = this.rows.length;
      const admitted = this.admissible();
      for (const member of admitted) await this.prefill(member);
      this.compact();
      const decodeNow = admitted.length === 0 || this.skippedDecode;
      this.skippedDecode = !decodeNow && waiting > 0;
      if (decodeNow && this.rows.length > 0) await this.decode();
      this.compact();
    } catch (error) {
      for (const member of new Set([...this.rows.map((row) => row.member), ...this.queue]))
        member.fail(error);
      this.rows = [];
      this.queue.length = 0;
      this.cache = undefined;
      this.width = 0;
      this.chargeCache(0, 0);
    }
    this.busyMs += performance.now() - started;
  }

  /** The queued members that fit beside the active rows, in arrival order. */
  private admissible(): Member[] {
    const admitted: Member[] = [];
    let rows = this.rows.length;
    let longest = Math.max(0, ...this.rows.map((row) => row.member.longest));
    const adapters = this.rows.map((row) => row.member.options.adapter);
    while (this.queue.length > 0) {
      const member = this.queue[0] as Member;
      const nextRows = rows + member.options.n;
      const nextLongest = Math.max(longest, member.longest);
      const nextAdapters = [
        ...adapters,
        ...Array.from({ length: member.options.n }, () => member.options.adapter),
      ];
      const bytes =
        runBytes(this.limits.cost, nextRows, 1, nextLongest) +
        loraFeedBytes(this.lm.layout.lora, nextAdapters);
      if (rows > 0 && (nextRows > this.limits.maxRows || bytes > this.limits.allowance)) break;
      if (!this.chargeCache(nextRows, nextLongest)) {
        if (rows > 0) break;
        this.queue.shift();
        member.fail(
          new ApiError(
            503,
            "The isolate's memory is in use by running requests; retry shortly.",
            "memory_busy",
          ),
        );
        continue;
      }
      admitted.push(member);
      this.queue.shift();
      rows = nextRows;
      longest = nextLongest;
      adapters.push(...nextAdapters.slice(adapters.length));
    }
    return admitted;
  }

  /** The prompt alone, in pieces that fit one run; its first tokens; then its rows join the batch. */
  private async prefill(member: Member): Promise<void> {
    const { session, layout } = this.lm;
    const prompt = member.options.promptIds;
    const chunk = Math.max(1, member.options.prefillChunk ?? prompt.length);
    let cache: Feeds | undefined;
    let logits: Float32Array[] = [];
    for (let start = 0; start < prompt.length; start += chunk) {
      if (start > 0) await session.yieldTurn();
      const piece = prompt.slice(start, start + chunk);
      const feeds = decoderFeeds(this.lm, [piece], [start], start, cache, [member.options.adapter]);
      const outputs = await session.run(feeds);
      cache = presentCache(this.lm, outputs);
      logits = lastLogits(outputs.logits as Tensor);
    }
    const row = logits[0] ?? new Float32Array();
    const picked = member.finished.map((_, choice) => ({ choice, token: member.pick(choice, row) }));
    this.tokens += picked.length;
    member.deliver(picked);
    const live = member.finished.flatMap((reason, choice) => (reason ? [] : [choice]));
    if (live.length === 0 || !cache || layout.past.length === 0) return;
    this.addRows(member, live, cache, prompt.length);
  }

  /** Appends rows (each a copy of the prompt's cache) to the batch, padding whichever side is shorter. */
  private addRows(member: Member, choices: number[], cache: Feeds, length: number): void {
    const { ort } = this.lm.session;
    const width = Math.max(this.width, length);
    const joined: Feeds = {};
    for (const [name, tensor] of Object.entries(cache)) {
      const rows = padPositionsLeft(ort, repeatRows(ort, tensor, choices.length), width);
      const current = this.cache?.[name];
      joined[name] = current ? concatRows(ort, padPositionsLeft(ort, current, width), rows) : rows;
    }
    this.cache = joined;
    this.width = width;
    for (const choice of choices) this.rows.push({ member, choice, length });
  }

  /** Drops rows that finished or whose request left, then the padding no remaining row needs. */
  private compact(): void {
    const keep = this.rows.flatMap((row, index) => (row.member.finished[row.choice] ? [] : [index]));
    const longest = Math.max(0, ...keep.map((index) => this.rows[index]?.member.longest ?? 0));
    this.chargeCache(keep.length, longest);
    if (keep.length === this.rows.length) return;
    const { ort } = this.lm.session;
    this.rows = keep.map((index) => this.rows[index] as Row);
    if (this.rows.length === 0 || !this.cache) {
      this.cache = undefined;
      this.width = 0;
      return;
    }
    const width = Math.max(...this.rows.map((row) => row.length));
    this.cache = Object.fromEntries(
      Object.entries(this.cache).map(([name, tensor]) => [
        name,
        keepLastPositions(ort, reorderRows(ort, tensor, keep), width),
      ]),
    );
    this.width = width;
  }

  /**
   * Charges the cache's bytes for `rows` rows that can grow to `longest` positions: more is taken
   * from the budget (false when it has no room), less gives the difference back.
   */
  private chargeCache(rows: number, longest: number): boolean {
    const { memory } = this.limits;
    if (!memory) return true;
    const bytes = rows * longest * this.bytesPerPosition;
    if (bytes > this.reservedBytes && !memory.reserve(bytes - this.reservedBytes)) return false;
    if (bytes < this.reservedBytes) memory.unreserve(this.reservedBytes - bytes);
    this.reservedBytes = bytes;
    return true;
  }

  /** One token for every active row. */
  private async decode(): Promise<void> {
    const tokens = this.rows.map((row) => [row.member.generated[row.choice]?.at(-1) ?? 0]);
    const lengths = this.rows.map((row) => row.length);
    const adapters = this.rows.map((row) => row.member.options.adapter);
    const outputs = await this.lm.session.run(
      decoderFeeds(this.lm, tokens, lengths, this.width, this.cache, adapters),
    );
    this.cache = presentCache(this.lm, outputs);
    this.width += 1;
    const logits = lastLogits(outputs.logits as Tensor);
    const byMember = new Map<Member, Picked>();
    this.rows.forEach((row, index) => {
      row.length += 1;
      const token = row.member.pick(row.choice, logits[index] ?? new Float32Array());
      const picked = byMember.get(row.member) ?? [];
      picked.push({ choice: row.choice, token });
      byMember.set(row.member, picked);
    });
    for (const [member, picked] of byMember) member.deliver(picked);
    this.steps += 1;
    this.rowSteps += this.rows.length;
    this.tokens += this.rows.length;
  }
}

const batchers = new WeakMap<ModelSession, DecodeBatcher>();

/** The batcher of a decoder session, made on first use; it lives as long as the session is cached. */
export function batcherFor(lm: CausalLM, limits: BatchLimits): DecodeBatcher {
  let batcher = batchers.get(lm.session);
  if (!batcher) {
    batcher = new DecodeBatcher(lm, limits);
    batchers.set(lm.session, batcher);
  }
  return batcher;
}

export function batchStatsOf(session: ModelSession): BatchStats | undefined {
  return batchers.get(session)?.stats();
}
