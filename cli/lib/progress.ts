/** A progress bar on stderr: redrawn in place on a terminal, one line per step elsewhere (CI logs). */
export class Progress {
  private done = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit: "bytes" | "items" = "bytes",
  ) {}

  advance(amount: number, what: string): void {
    this.done = Math.min(this.total, this.done + amount);
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const width = 28;
    const filled = Math.round(fraction * width);
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
    const line = `${this.label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${this.amount()} ${what}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  finish(): void {
    if (this.tty) process.stderr.write("\n");
  }

  private amount(): string {
    if (this.unit === "items") return `${this.done}/${this.total}`;
    return `${formatBytes(this.done)}/${formatBytes(this.total)}`;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
