/**
 * A one-line progress bar for `download`/`upload`, redrawn in place (carriage return) on a TTY
 * at most 5 times a second:
 *
 *   download [##########----------]  52.4 MiB / 100.0 MiB   812.3 Mbit/s
 *
 * Without a known total it shows the bytes and the rate. Nothing is written when the stream is
 * not a TTY (the caller decides; see `Progress.create`).
 */
import type { WriteStream } from 'node:tty';

const WIDTH = 24;

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatRate(bytes: number, seconds: number): string {
  const mbps = seconds > 0 ? (bytes * 8) / seconds / 1e6 : 0;
  return mbps >= 1000 ? `${(mbps / 1000).toFixed(2)} Gbit/s` : `${mbps.toFixed(1)} Mbit/s`;
}

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private lastLen = 0;
  private readonly start = Date.now();

  private constructor(
    private readonly out: NodeJS.WritableStream & { columns?: number },
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly current: () => number,
  ) {}

  /** A progress bar on `out` if it is a TTY and `enabled`; otherwise undefined. */
  static create(label: string, total: number | undefined, current: () => number, enabled: boolean, out: NodeJS.WritableStream = process.stderr): Progress | undefined {
    if (!enabled || !(out as WriteStream).isTTY) return undefined;
    const p = new Progress(out, label, total, current);
    p.timer = setInterval(() => p.draw(), 200);
    p.timer.unref();
    p.draw();
    return p;
  }

  /** The line for `done` bytes after `seconds` (exported for tests). */
  static line(label: string, done: number, total: number | undefined, seconds: number): string {
    const rate = formatRate(done, seconds).padStart(14);
    if (total === undefined || total <= 0) return `${label} ${formatBytes(done).padStart(11)} ${rate}`;
    const frac = Math.min(1, done / total);
    const filled = Math.round(frac * WIDTH);
    const bar = '#'.repeat(filled) + '-'.repeat(WIDTH - filled);
    return `${label} [${bar}] ${formatBytes(done).padStart(11)} / ${formatBytes(total)} ${(frac * 100).toFixed(0).padStart(3)}% ${rate}`;
  }

  private draw(): void {
    const secs = (Date.now() - this.start) / 1000;
    let text = Progress.line(this.label, this.current(), this.total, secs);
    const cols = this.out.columns;
    if (cols !== undefined && cols > 10 && text.length >= cols) text = text.slice(0, cols - 1);
    const pad = this.lastLen > text.length ? ' '.repeat(this.lastLen - text.length) : '';
    this.lastLen = text.length;
    this.out.write(`\r${text}${pad}`);
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    this.out.write('\n');
  }
}
