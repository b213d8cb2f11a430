import type { TextTokenizer } from "./tokenizer.js";

/** The most ids decoded again per token, beyond those since the last whole character. */
const WINDOW_IDS = 8;

/**
 * Turns generated token ids into text pieces as they arrive.
 *
 * Every piece is whole text: a token that ends inside a multi-byte character (Chinese, emoji,
 * byte-fallback tokens) is held until the character completes. Text that could be the start of
 * a stop string is held too, and a stop string is never emitted. The pieces always concatenate
 * to the final text.
 *
 * The text of all ids so far is kept up to date without decoding them all again for every token,
 * which made a long generation quadratic: only the ids since the last whole character are decoded,
 * together with the few before them. Decoders join and strip text at token boundaries (a leading
 * space dropped, byte-level bytes fused into characters, WordPiece's `##`), so the new text is what
 * decoding that window adds to decoding its first part alone, as Hugging Face's text-generation
 * servers do it; when the window's text does not begin with its first part's, the whole list is
 * decoded instead. A tokenizer whose decoder rewrites text across tokens (WordPiece, spacing
 * clean-up) always decodes the whole list.
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  /** The text of `ids[0:read]`, exactly as decoding that whole list gives it. */
  private closed = "";
  /** Ids before `read` are in `closed`; from `context` on, they are decoded again with the new ones. */
  private context = 0;
  private read = 0;
  /** The text of `ids[context:read]` decoded alone. */
  private contextText = "";
  private emitted = "";
  private stopped = false;

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly stops: readonly string[] = [],
  ) {}

  /** Adds a token; returns the text that became safe to emit, and whether a stop string ended it. */
  push(id: number): { text: string; stopped: boolean } {
    if (this.stopped) return { text: "", stopped: true };
    this.ids.push(id);
    const full = this.decodeAll();
    const stop = this.firstStop(full);
    if (stop !== undefined) {
      this.stopped = true;
      return { text: this.advanceTo(full.slice(0, stop)), stopped: true };
    }
    if (full.endsWith("\uFFFD")) return { text: "", stopped: false };
    return { text: this.advanceTo(full.slice(0, full.length - this.heldForStops(full))), stopped: false };
  }

  /** The rest of the text once generation has ended. */
  flush(): string {
    if (this.stopped) return "";
    return this.advanceTo(this.decodeAll());
  }

  get text(): string {
    return this.emitted;
  }

  /**
   * The text of every id so far. The window's text becomes the next step's context text as it is;
   * only every WINDOW_IDS ids does the window start move up, to the previous whole character, at
   * the cost of one more (short) decode.
   */
  private decodeAll(): string {
    if (!this.tokenizer.decodesLocally) return this.tokenizer.decode(this.ids);
    let window = this.tokenizer.decode(this.ids.slice(this.context));
    let full: string;
    if (window.startsWith(this.contextText)) {
      full = this.closed + window.slice(this.contextText.length);
    } else {
      full = this.tokenizer.decode(this.ids);
      window = full;
      this.context = 0;
      this.read = 0;
      this.closed = "";
      this.contextText = "";
    }
    if (!full.endsWith("\uFFFD") && full.length > this.closed.length) {
      const moveUp = this.ids.length - this.context > WINDOW_IDS;
      if (moveUp) this.context = this.read;
      this.read = this.ids.length;
      this.closed = full;
      this.contextText = moveUp ? this.tokenizer.decode(this.ids.slice(this.context)) : window;
    }
    return full;
  }

  private advanceTo(safe: string): string {
    if (!safe.startsWith(this.emitted) || safe.length <= this.emitted.length) return "";
    const piece = safe.slice(this.emitted.length);
    this.emitted = safe;
    return piece;
  }

  private firstStop(text: string): number | undefined {
    let first: number | undefined;
    for (const stop of this.stops) {
      const at = text.indexOf(stop, Math.max(0, this.emitted.length - stop.length + 1));
      if (at >= 0 && (first === undefined || at < first)) first = at;
    }
    return first;
  }

  /** Length of the longest tail of `text` that is a proper prefix of some stop string. */
  private heldForStops(text: string): number {
    let held = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, text.length); length > held; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          held = length;
          break;
        }
      }
    }
    return held;
  }
}
