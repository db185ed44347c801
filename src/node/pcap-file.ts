/**
 * A `PcapSink` that appends to a file. Bytes are buffered and written with fs.writeSync, so a
 * signal handler (SIGINT/SIGTERM) can `flushSync()` and exit knowing the capture is complete;
 * an asynchronous write could still be pending when the process exits.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { PcapSink } from '../link/pcap.js';

export class PcapFileSink implements PcapSink {
  private fd: number | undefined;
  private readonly buf: Uint8Array;
  private used = 0;

  /** Creates (truncates) `path`. `bufferSize` bytes are collected before a write (default 1 MiB). */
  constructor(readonly path: string, bufferSize = 1 << 20) {
    this.fd = openSync(path, 'w', 0o644);
    this.buf = new Uint8Array(bufferSize);
  }

  write(bytes: Uint8Array): void {
    if (this.fd === undefined) return;
    if (this.used + bytes.length > this.buf.length) this.flushSync();
    if (bytes.length > this.buf.length) {
      writeAll(this.fd, bytes);
      return;
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** Writes the buffered bytes to the file now. */
  flushSync(): void {
    if (this.fd === undefined || this.used === 0) return;
    const n = this.used;
    this.used = 0;
    writeAll(this.fd, this.buf.subarray(0, n));
  }

  /** Flushes and closes; idempotent. */
  close(): Promise<void> {
    this.closeSync();
    return Promise.resolve();
  }

  closeSync(): void {
    if (this.fd === undefined) return;
    try {
      this.flushSync();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}
