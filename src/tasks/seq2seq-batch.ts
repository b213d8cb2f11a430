import type { ModelSession } from "../runtime/session.js";
import type { Hypothesis } from "./beam-search.js";
import {
  encodeSeq2Seq,
  type InputSettings,
  Seq2SeqDecode,
  type Seq2SeqModel,
  type Seq2SeqOptions,
} from "./seq2seq.js";
import { SharedStep } from "./shared-step.js";

/**
 * Batching for encoder-decoder generation: requests on one model that wait at the same moment
 * share one encoder run and then every decoder step, each input with its own beams, length limit
 * and forced first token. The decoders these models export take no decoder attention mask and
 * give every row the same positions, so a request cannot join a batch that has started decoding;
 * it forms the next one with whatever arrives beside it, and batches that run at the same time
 * take turns per step on the session, as single requests do.
 *
 * The rules of the decode batcher (tasks/batcher.ts) hold here: each step runs in the request of
 * whichever member asks for it first and is kept alive past that request; every member waits its
 * turn with its own timer, never one set inside the shared step.
 */
export interface Seq2SeqJob {
  inputs: number[][];
  /** The whole request's options; those that are not `InputSettings` are the model's, the same for every job. */
  options: Seq2SeqOptions;
  results: Hypothesis[][];
}

export interface Seq2SeqBatchStats {
  batches: number;
  jobs: number;
  queued: number;
  /** Requests' jobs per batch: above 1 when concurrent requests shared the decoder's steps. */
  mean_jobs_per_batch: number;
  max_jobs_per_batch: number;
  steps: number;
  mean_rows_per_step: number;
}

interface Entry {
  job: Seq2SeqJob;
  batch?: Batch;
  settled: boolean;
  failure?: unknown;
}

class Batch {
  private decode: Seq2SeqDecode | undefined;
  private readonly shared = new SharedStep();

  constructor(
    private readonly entries: Entry[],
    private readonly owner: Seq2SeqBatcher,
  ) {}

  advance(keepAlive?: (work: Promise<unknown>) => void): Promise<void> {
    return this.shared.run(() => this.runStep(), keepAlive);
  }

  /** The encoder run first, then one decoder step per call; the results once every input is done. */
  private async runStep(): Promise<void> {
    const jobs = this.entries.map((entry) => entry.job);
    try {
      if (!this.decode) {
        const first = jobs[0] as Seq2SeqJob;
        const inputs = jobs.flatMap((job) => job.inputs);
        const settings: InputSettings[] = jobs.flatMap((job) => job.inputs.map(() => job.options));
        const encoded = await encodeSeq2Seq(this.owner.model, inputs, first.options.padId);
        this.decode = new Seq2SeqDecode(this.owner.model, encoded, first.options, settings);
      }
      if (!this.decode.done) {
        await this.decode.step();
        this.owner.countStep(this.decode.rows);
      }
      if (!this.decode.done) return;
      const results = this.decode.results();
      let offset = 0;
      for (const job of jobs) {
        job.results = results.slice(offset, offset + job.inputs.length);
        offset += job.inputs.length;
      }
    } catch (error) {
      for (const entry of this.entries) entry.failure = error;
    }
    for (const entry of this.entries) entry.settled = true;
  }
}

export class Seq2SeqBatcher {
  private readonly pending: Entry[] = [];
  private batches = 0;
  private jobs = 0;
  private maxJobs = 0;
  private steps = 0;
  private rowSteps = 0;

  constructor(
    readonly model: Seq2SeqModel,
    /** Whether these jobs fit one batch (rows per step, the per-run memory allowance). */
    private readonly fits: (jobs: Seq2SeqJob[]) => boolean,
  ) {}

  /** Generates the job's inputs in the next batch it fits; resolves once its results are in it. */
  async submit(job: Seq2SeqJob, keepAlive?: (work: Promise<unknown>) => void): Promise<void> {
    const entry: Entry = { job, settled: false };
    this.pending.push(entry);
    for (;;) {
      await this.model.decoder.yieldTurn();
      if (entry.settled) break;
      await (entry.batch ?? this.form()).advance(keepAlive);
    }
    if ("failure" in entry) throw entry.failure;
  }

  stats(): Seq2SeqBatchStats {
    return {
      batches: this.batches,
      jobs: this.jobs,
      queued: this.pending.length,
      mean_jobs_per_batch: this.batches === 0 ? 0 : this.jobs / this.batches,
      max_jobs_per_batch: this.maxJobs,
      steps: this.steps,
      mean_rows_per_step: this.steps === 0 ? 0 : this.rowSteps / this.steps,
    };
  }

  countStep(rows: number): void {
    this.steps += 1;
    this.rowSteps += rows;
  }

  /** A batch of the waiting jobs that fit together, in arrival order (the first always fits). */
  private form(): Batch {
    const taken: Entry[] = [];
    const fits = (next: Entry) => this.fits([...taken, next].map((entry) => entry.job));
    while (this.pending.length > 0 && (taken.length === 0 || fits(this.pending[0] as Entry))) {
      taken.push(this.pending.shift() as Entry);
    }
    const batch = new Batch(taken, this);
    for (const entry of taken) entry.batch = batch;
    this.batches += 1;
    this.jobs += taken.length;
    this.maxJobs = Math.max(this.maxJobs, taken.length);
    return batch;
  }
}

const batchers = new WeakMap<ModelSession, Seq2SeqBatcher>();

/** The batcher of an encoder-decoder model (keyed by its encoder session), made on first use. */
export function seq2seqBatcherFor(model: Seq2SeqModel, make: () => Seq2SeqBatcher): Seq2SeqBatcher {
  let batcher = batchers.get(model.encoder);
  if (!batcher) {
    batcher = make();
    batchers.set(model.encoder, batcher);
  }
  return batcher;
}

export function seq2seqBatchStatsOf(session: ModelSession): Seq2SeqBatchStats | undefined {
  return batchers.get(session)?.stats();
}
