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
import { type LoraAdapter, loraFeedBytes } from "./lora.js";
import { type RunCost, runBytes } from "./run-memory.js";
import { SharedStep } from "./shared-step.js";
import { concatRows, keepLastPositions, lastLogits, padPositionsLeft, reorderRows } from "./tensors.js";

/**
 * Continuous batching for a decoder with a KV cache: one batched decode step for every active
 * generation on a model, instead of one run per request per token. Reading the weights dominates
 * a batch-1 step, so eight rows cost little more than one.
 *
 * Requests admitted together are prefilled together, as one left-padded run (or several, when
 * their joint run would not fit the run memory); each picks its first token from its own row and
 * joins the batch at the next step. Rows of different lengths share a step through
 * left padding: each row's positions are right-aligned in the cache, the padding is masked out by
 * `attention_mask`, and every row gets its own `position_ids`. A finished, stopped or abandoned row
 * leaves before the next step, and the cache is compacted to the rows that remain. Every row keeps
 * its own sampler, seeded as a lone request's would be, so batching changes no answer.
 *
 * The batch is bounded: by `maxRows`, and by the memory its runs and its cache take over the
 * longest the rows can grow. A decode run may use the per-run allowance and, beyond it, model budget
 * that no model holds, borrowed for as long as the rows that need it run; a request that fits
 * neither waits for rows to leave, and a full queue is a 429.
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
   * The isolate's model budget. The KV cache's bytes, kept in JS between steps, are charged to it
   * for the longest the batch's rows can grow (evicting idle models if need be), and so is a decode
   * run's memory beyond `allowance` (only from budget no model holds: admitting a row sooner is not
   * worth reloading a model); a generation that does not fit waits for rows to leave. Without it
   * nothing is charged and a decode run gets the allowance only.
   */
  memory?: { reserve(bytes: number, evict?: boolean): boolean; unreserve(bytes: number): void };
}

export interface BatchStats {
  active_rows: number;
  queued: number;
  /** Admitted generations whose prompts wait for the next prefill run. */
  prefill_pending: number;
  steps: number;
  mean_batch_size: number;
  /** Prefills of newcomers admitted together, the prompts they held, and their session runs (chunks). */
  prefills: number;
  prefilled_prompts: number;
  prefill_runs: number;
  tokens: number;
  tokens_per_second: number;
  /** Charged to the model budget now: the KV cache, and decode run memory beyond the per-run allowance. */
  kv_cache_bytes: number;
  borrowed_run_bytes: number;
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
  /** Admitted (and charged for) but not yet prefilled: the rest of a group too large for one run. */
  private pending: Member[] = [];
  private cache: Feeds | undefined;
  private width = 0;
  private readonly shared = new SharedStep();
  private steps = 0;
  private rowSteps = 0;
  private prefills = 0;
  private prefilledPrompts = 0;
  private prefillRuns = 0;
  private tokens = 0;
  private busyMs = 0;
  private kvBytes = 0;
  private borrowedBytes = 0;
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
      prefill_pending: this.pending.length,
      steps: this.steps,
      mean_batch_size: this.steps === 0 ? 0 : this.rowSteps / this.steps,
      prefills: this.prefills,
      prefilled_prompts: this.prefilledPrompts,
      prefill_runs: this.prefillRuns,
      tokens: this.tokens,
      tokens_per_second: this.busyMs === 0 ? 0 : (1000 * this.tokens) / this.busyMs,
      kv_cache_bytes: this.kvBytes,
      borrowed_run_bytes: this.borrowedBytes,
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
      this.pending.push(...this.admissible());
      const group = this.prefillGroup();
      if (group.length > 0) await this.prefill(group);
      this.compact();
      const decodeNow = group.length === 0 || this.skippedDecode;
      this.skippedDecode = !decodeNow && waiting > 0;
      if (decodeNow && this.rows.length > 0) await this.decode();
      this.compact();
    } catch (error) {
      const members = [...this.rows.map((row) => row.member), ...this.pending, ...this.queue];
      for (const member of new Set(members)) member.fail(error);
      this.rows = [];
      this.pending = [];
      this.queue.length = 0;
      this.cache = undefined;
      this.width = 0;
      this.charge(0, 0, []);
    }
    this.busyMs += performance.now() - started;
  }

  /** What the batch holds or has promised: its rows, and the rows of admitted members not yet prefilled. */
  private held(): { rows: number; longest: number; adapters: (LoraAdapter | undefined)[] } {
    const members = [
      ...this.rows.map((row) => row.member),
      ...this.pending.flatMap((member) => Array.from({ length: member.options.n }, () => member)),
    ];
    return {
      rows: members.length,
      longest: Math.max(0, ...members.map((member) => member.longest)),
      adapters: members.map((member) => member.options.adapter),
    };
  }

  /** The queued members that fit beside the batch's rows, in arrival order. */
  private admissible(): Member[] {
    const admitted: Member[] = [];
    let { rows, longest, adapters } = this.held();
    while (this.queue.length > 0) {
      const member = this.queue[0] as Member;
      const nextRows = rows + member.options.n;
      const nextLongest = Math.max(longest, member.longest);
      const nextAdapters = [
        ...adapters,
        ...Array.from({ length: member.options.n }, () => member.options.adapter),
      ];
      if (rows > 0 && nextRows > this.limits.maxRows) break;
      if (!this.charge(nextRows, nextLongest, nextAdapters)) {
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
      adapters = nextAdapters;
    }
    return admitted;
  }

  /**
   * Charges the model budget for `rows` rows that can grow to `longest` positions: their KV cache,
   * and the part of their decode run beyond the per-run allowance. More is taken from the budget
   * (false, taking nothing, when it has no room), less gives the difference back.
   */
  private charge(rows: number, longest: number, adapters: readonly (LoraAdapter | undefined)[]): boolean {
    const kv = rows * longest * this.bytesPerPosition;
    const run =
      rows === 0
        ? 0
        : runBytes(this.limits.cost, rows, 1, longest) + loraFeedBytes(this.lm.layout.lora, adapters);
    const borrowed = Math.max(0, run - this.limits.allowance);
    const { memory } = this.limits;
    if (!memory) return borrowed === 0;
    const more = kv + borrowed - (this.kvBytes + this.borrowedBytes);
    if (more > 0 && !memory.reserve(more, borrowed <= this.borrowedBytes)) return false;
    if (more < 0) memory.unreserve(-more);
    this.kvBytes = kv;
    this.borrowedBytes = borrowed;
    return true;
  }

  /**
   * The next pending members that can be prefilled as one group, in arrival order: as many as fit
   * one run of the allowance plus what the batch has borrowed (its decode runs and its prefills
   * never run at once), each prefilled in pieces no smaller than it would be alone.
   */
  private prefillGroup(): Member[] {
    const limit = this.limits.allowance + this.borrowedBytes;
    const group: Member[] = [];
    for (const member of this.pending) {
      if (group.length > 0 && this.prefillBytes([...group, member]) > limit) break;
      group.push(member);
    }
    this.pending = this.pending.slice(group.length);
    return group;
  }

  /** Prompt tokens per run of a group: whole, unless one of its members is itself fed in pieces. */
  private static prefillChunk(group: readonly Member[]): number {
    const width = Math.max(1, ...group.map((member) => member.options.promptIds.length));
    return Math.max(1, Math.min(width, ...group.map((member) => member.options.prefillChunk ?? width)));
  }

  /** The largest run of a group's prefill: its last piece, attending to the whole padded width. */
  private prefillBytes(group: readonly Member[]): number {
    const width = Math.max(...group.map((member) => member.options.promptIds.length));
    const adapters = group.map((member) => member.options.adapter);
    return (
      runBytes(this.limits.cost, group.length, DecodeBatcher.prefillChunk(group), width) +
      loraFeedBytes(this.lm.layout.lora, adapters)
    );
  }

  /**
   * The group's prompts, left-padded to the longest and run together in pieces through the cache;
   * each member's first tokens come from its own row, then its rows join the batch.
   */
  private async prefill(group: readonly Member[]): Promise<void> {
    const { session } = this.lm;
    const prompts = group.map((member) => member.options.promptIds);
    const width = Math.max(...prompts.map((prompt) => prompt.length));
    const pads = prompts.map((prompt) => width - prompt.length);
    const padded = prompts.map((prompt, row) => [...new Array<number>(pads[row] ?? 0).fill(0), ...prompt]);
    const adapters = group.map((member) => member.options.adapter);
    const chunk = DecodeBatcher.prefillChunk(group);
    let cache: Feeds | undefined;
    let logits: Float32Array[] = [];
    for (let start = 0; start < width; start += chunk) {
      if (start > 0) await session.yieldTurn();
      const end = Math.min(width, start + chunk);
      const feeds = decoderFeeds(
        this.lm,
        padded.map((ids) => ids.slice(start, end)),
        pads.map((pad) => Math.max(0, start - pad)),
        start,
        cache,
        adapters,
        pads.map((pad) => Math.min(end - start, Math.max(0, pad - start))),
      );
      const outputs = await session.run(feeds);
      cache = presentCache(this.lm, outputs);
      logits = lastLogits(outputs.logits as Tensor);
      this.prefillRuns += 1;
    }
    this.prefills += 1;
    this.prefilledPrompts += group.length;
    const sources: number[] = [];
    group.forEach((member, index) => {
      const row = logits[index] ?? new Float32Array();
      const picked = member.finished.flatMap((reason, choice) =>
        reason ? [] : [{ choice, token: member.pick(choice, row) }],
      );
      this.tokens += picked.length;
      member.deliver(picked);
      for (const { choice } of picked) {
        if (member.finished[choice]) continue;
        sources.push(index);
        this.rows.push({ member, choice, length: prompts[index]?.length ?? 0 });
      }
    });
    if (sources.length > 0 && cache) this.addRows(cache, sources, width);
  }

  /** Appends rows of a prefill's cache (`sources`, a row per choice) to the batch, padding whichever side is shorter. */
  private addRows(cache: Feeds, sources: readonly number[], length: number): void {
    const { ort } = this.lm.session;
    const width = Math.max(this.width, length);
    const joined: Feeds = {};
    for (const [name, tensor] of Object.entries(cache)) {
      const rows = padPositionsLeft(ort, reorderRows(ort, tensor, sources), width);
      const current = this.cache?.[name];
      joined[name] = current ? concatRows(ort, padPositionsLeft(ort, current, width), rows) : rows;
    }
    this.cache = joined;
    this.width = width;
  }

  /**
   * Drops rows that finished or whose request left, then the padding no remaining row needs, and
   * gives back what they were charged.
   */
  private compact(): void {
    this.pending = this.pending.filter((member) => !member.finished.every(Boolean));
    const keep = this.rows.flatMap((row, index) => (row.member.finished[row.choice] ? [] : [index]));
    if (keep.length !== this.rows.length) {
      const { ort } = this.lm.session;
      const kept = keep.map((index) => this.rows[index] as Row);
      if (kept.length === 0 || !this.cache) {
        this.cache = undefined;
        this.width = 0;
      } else {
        const width = Math.max(...kept.map((row) => row.length));
        this.cache = Object.fromEntries(
          Object.entries(this.cache).map(([name, tensor]) => [
            name,
            keepLastPositions(ort, reorderRows(ort, tensor, keep), width),
          ]),
        );
        this.width = width;
      }
      this.rows = kept;
    }
    const { rows, longest, adapters } = this.held();
    this.charge(rows, longest, adapters);
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
