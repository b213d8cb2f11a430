import type { TextTokenizer } from "./tokenizer.js";

/**
 * Turns generated token ids into text pieces as they arrive.
 *
 * Every piece is whole text: a token that ends inside a multi-byte character (Chinese, emoji,
 * byte-fallback tokens) is held until the character completes. Text that could be the start of
 * a stop string is held too, and a stop string is never emitted. The pieces always concatenate
 * to the final text.
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
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
    const full = this.tokenizer.decode(this.ids);
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
    return this.advanceTo(this.tokenizer.decode(this.ids));
  }

  get text(): string {
    return this.emitted;
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
