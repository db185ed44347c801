/**
 * `netstack download` and `netstack upload` (the reference stack's tcp_bulk_download and
 * tcp_bulk_upload): bulk TCP between the stack and a server on the kernel side of the device,
 * over the `net`-shaped API (src/api/net.ts), with Node's own `http` client for `--http`.
 *
 * - download, raw: connect, read until `--bytes N` have arrived (then close; if the server keeps
 *   sending, the connection is reset after a short grace period) or until the server's FIN.
 *   Fewer than N bytes before the FIN is an error.
 * - download --http PATH: HTTP/1.1 GET; only the body counts (status must be 200, and the body
 *   must be complete).
 * - upload: send `--bytes N` of the chargen pattern (services.ts) or `--file F`, half-close, and
 *   wait for the server to close its side.
 *
 * Output contract: one summary on stdout at the end, as a line of text, or with --json as one
 * JSON object on one line: { command, remote, bytes, seconds, mbps, sha256, retransmits }.
 * `seconds` runs from the connection being established to the last byte (download) or to the
 * server's close (upload). `retransmits` is the stack's count of retransmitted segments. A
 * progress bar goes to stderr when stderr is a TTY (unless --no-progress); diagnostics and
 * counter tables (--stats, SIGUSR1) go to stderr too. Exit status 0 on success, 1 on any error
 * (connection refused or reset, short transfer, no progress for --timeout seconds, a signal).
 */
import * as http from 'node:http';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createConnection, httpConnector, type Socket } from '../api/net.js';
import type { TransferConfig } from './args.js';
import { setUpDevice, type Device } from './host.js';
import { ChargenSource } from './services.js';
import { Progress } from './progress.js';

export interface TransferSummary {
  command: 'download' | 'upload';
  /** The server, as HOST:PORT ([HOST]:PORT for IPv6). */
  remote: string;
  bytes: number;
  seconds: number;
  /** Megabits (10^6 bits) per second of payload. */
  mbps: number;
  sha256: string;
  retransmits: number;
}

/** How long the stack keeps running after the transfer for the connection to finish closing. */
const LINGER_MS = 5000;

/** Waits (at most `ms`) until every TCP connection of the stack is CLOSED or in TIME-WAIT. */
async function lingerTcp(device: Device, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  const busy = (): boolean => device.stack.tcp.connections().some((c) => c.state !== 'CLOSED' && c.state !== 'TIME-WAIT');
  while (busy() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** After --bytes N were read, how long the server gets to close before we reset. */
const CLOSE_GRACE_MS = 2000;

/** Shared state of one transfer: byte count, hash, progress, the stall watchdog. */
class Meter {
  bytes = 0;
  readonly hash: Hash = createHash('sha256');
  /** When the connection was established (performance.now ms), or undefined. */
  startedAt: number | undefined;
  endedAt: number | undefined;
  lastProgress = performance.now();

  add(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.lastProgress = performance.now();
  }

  connected(): void {
    this.startedAt ??= performance.now();
    this.lastProgress = performance.now();
  }

  end(): void {
    this.endedAt ??= performance.now();
  }

  get seconds(): number {
    if (this.startedAt === undefined) return 0;
    return ((this.endedAt ?? performance.now()) - this.startedAt) / 1000;
  }
}

function remoteText(cfg: TransferConfig): string {
  return cfg.connect.family === 6 ? `[${cfg.connect.host}]:${cfg.connect.port}` : `${cfg.connect.host}:${cfg.connect.port}`;
}

function connect(device: Device, cfg: TransferConfig): Socket {
  return createConnection(device.stack, { host: cfg.connect.host, port: cfg.connect.port, family: cfg.connect.family });
}

/** Raw download: resolves when done, rejects on an error. */
function rawDownload(device: Device, cfg: TransferConfig, meter: Meter, abort: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const limit = cfg.bytes;
    const sock = connect(device, cfg);
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      meter.end();
      if (err) {
        sock.destroy();
        reject(err);
        return;
      }
      if (sock.destroyed) {
        resolve();
        return;
      }
      // Wait for the connection to be closed (our FIN went out, or a reset after the grace).
      sock.once('close', () => {
        clearTimeout(grace);
        resolve();
      });
    };
    abort.addEventListener('abort', () => finish(abort.reason as Error), { once: true });
    sock.on('connect', () => meter.connected());
    sock.on('data', (chunk: Buffer) => {
      if (limit === undefined) {
        meter.add(chunk);
        return;
      }
      const want = limit - meter.bytes;
      if (want <= 0) return; // after the limit: discard until the close
      meter.add(want < chunk.length ? chunk.subarray(0, want) : chunk);
      if (meter.bytes >= limit) {
        finish();
        sock.end();
        // A server that keeps sending (chargen) gets a reset after the grace period.
        grace = setTimeout(() => sock.destroy(), CLOSE_GRACE_MS);
      }
    });
    sock.on('end', () => {
      if (limit !== undefined && meter.bytes < limit) {
        finish(new Error(`the server closed the connection after ${meter.bytes} of ${limit} bytes`));
        return;
      }
      finish();
    });
    sock.on('error', (e: Error) => {
      if (done) return; // e.g. a reset after we had all we wanted
      finish(e);
    });
    sock.on('close', () => {
      if (!done) finish(new Error(`connection closed after ${meter.bytes} bytes`));
    });
  });
}

/** HTTP download: GET cfg.http, hash the body. */
function httpDownload(device: Device, cfg: TransferConfig, meter: Meter, abort: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (e: Error): void => {
      if (done) return;
      done = true;
      meter.end();
      req.destroy();
      reject(e);
    };
    const req = http.request({
      createConnection: httpConnector(device.stack),
      host: cfg.connect.host,
      port: cfg.connect.port,
      family: cfg.connect.family,
      path: cfg.http,
      method: 'GET',
      headers: { 'User-Agent': 'netstack', Connection: 'close' },
    });
    abort.addEventListener('abort', () => fail(abort.reason as Error), { once: true });
    req.on('socket', (s) => {
      if ((s as unknown as Socket).connecting) s.once('connect', () => meter.connected());
      else meter.connected();
    });
    req.on('error', fail);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(new Error(`HTTP ${res.statusCode} ${res.statusMessage ?? ''} for ${cfg.http}`.trimEnd()));
        return;
      }
      res.on('data', (chunk: Buffer) => meter.add(chunk));
      res.on('error', fail);
      res.on('aborted', () => fail(new Error(`the response was cut off after ${meter.bytes} bytes of the body`)));
      res.on('end', () => {
        if (done) return;
        if (!res.complete) {
          fail(new Error(`the response was cut off after ${meter.bytes} bytes of the body`));
          return;
        }
        done = true;
        meter.end();
        const sock = req.socket;
        if (!sock || sock.destroyed) resolve();
        else {
          sock.once('close', () => resolve());
          sock.destroy();
        }
      });
    });
    req.end();
  });
}

/** Upload: write the data with backpressure, half-close, wait for the server's close. */
function upload(device: Device, cfg: TransferConfig, meter: Meter, abort: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect(device, cfg);
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      meter.end();
      if (err) {
        sock.destroy();
        reject(err);
      } else if (sock.destroyed) resolve();
      else sock.once('close', () => resolve());
    };
    abort.addEventListener('abort', () => finish(abort.reason as Error), { once: true });
    sock.on('error', (e: Error) => finish(e));
    sock.on('end', () => {
      if (!sock.writableFinished) {
        finish(new Error(`the server closed the connection after ${meter.bytes} bytes were sent (before all the data)`));
        return;
      }
      finish();
    });
    sock.on('close', () => {
      if (!done) finish(new Error(`connection closed after ${meter.bytes} bytes were sent`));
    });
    sock.resume(); // anything the server sends is discarded
    sock.on('connect', () => {
      meter.connected();
      if (cfg.file !== undefined) sendFile(sock, cfg.file, meter, (e) => finish(e));
      else sendChargen(sock, cfg.bytes ?? 0, meter);
    });
    // Acknowledged bytes count as progress for the watchdog even while write() waits.
    sock.on('drain', () => (meter.lastProgress = performance.now()));
  });
}

function sendChargen(sock: Socket, n: number, meter: Meter): void {
  const src = new ChargenSource();
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      if (sock.destroyed) return;
      const chunk = src.next(left);
      left -= chunk.length;
      meter.add(chunk);
      if (!sock.write(chunk)) {
        sock.once('drain', pump);
        return;
      }
    }
    sock.end();
  };
  pump();
}

function sendFile(sock: Socket, file: string, meter: Meter, fail: (e: Error) => void): void {
  const rs = createReadStream(file, { highWaterMark: 256 * 1024 });
  rs.on('error', (e) => fail(new Error(`--file: ${e.message}`)));
  rs.on('data', (chunk) => {
    const b = chunk as Buffer;
    meter.add(b);
    if (!sock.write(b)) {
      rs.pause();
      sock.once('drain', () => rs.resume());
    }
  });
  rs.on('end', () => sock.end());
  sock.once('close', () => rs.destroy());
}

export function formatSummary(s: TransferSummary): string {
  const verb = s.command === 'download' ? 'downloaded' : 'uploaded';
  return `${verb} ${s.bytes} bytes ${s.command === 'download' ? 'from' : 'to'} ${s.remote} in ${s.seconds.toFixed(3)} s, ${s.mbps.toFixed(1)} Mbit/s, sha256 ${s.sha256}, ${s.retransmits} retransmitted segments`;
}

export async function runTransfer(cfg: TransferConfig): Promise<number> {
  if (cfg.file !== undefined) {
    // Fail before touching any device.
    try {
      if (!statSync(cfg.file).isFile()) throw new Error('not a regular file');
    } catch (e) {
      throw new Error(`--file: cannot read ${cfg.file}: ${(e as Error).message}`);
    }
  }
  const device = await setUpDevice(cfg);
  const meter = new Meter();
  const ac = new AbortController();
  const stop = (e: Error): void => {
    if (!ac.signal.aborted) ac.abort(e);
  };
  const onSigint = (): void => stop(new Error('interrupted (SIGINT)'));
  const onSigterm = (): void => stop(new Error('interrupted (SIGTERM)'));
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  device.onError = (err) => stop(new Error(`reading ${device.devName} failed: ${err.message}`));
  const printStats = (): void => {
    process.stderr.write(device.formatStats());
  };
  process.on('SIGUSR1', printStats);
  const statsTimer = cfg.stats > 0 ? setInterval(printStats, cfg.stats * 1000) : undefined;
  const watchdog = setInterval(() => {
    if (performance.now() - meter.lastProgress > cfg.timeout * 1000) {
      const what = meter.startedAt === undefined ? `connecting to ${remoteText(cfg)}` : `after ${meter.bytes} bytes`;
      stop(new Error(`no progress for ${cfg.timeout} s (${what}); giving up`));
    }
  }, 250);
  const total = cfg.command === 'upload' ? (cfg.file !== undefined ? statSync(cfg.file).size : cfg.bytes) : cfg.bytes;
  const progress = Progress.create(cfg.command, total, () => meter.bytes, cfg.progress === 'auto');
  const retransmitsBefore = device.stack.counters.get('tcp.retransmits');

  let error: Error | undefined;
  try {
    if (cfg.command === 'upload') await upload(device, cfg, meter, ac.signal);
    else if (cfg.http !== undefined) await httpDownload(device, cfg, meter, ac.signal);
    else await rawDownload(device, cfg, meter, ac.signal);
  } catch (e) {
    error = e as Error;
  } finally {
    progress?.finish();
    clearInterval(watchdog);
    if (statsTimer) clearInterval(statsTimer);
    process.off('SIGUSR1', printStats);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
  // The connection's last segments (our FIN, its retransmissions) need the stack running: the
  // socket's 'close' comes when the stream is done, not when the peer has acknowledged our FIN.
  if (!error) await lingerTcp(device, LINGER_MS);
  const retransmits = device.stack.counters.get('tcp.retransmits') - retransmitsBefore;
  if (cfg.stats > 0) printStats();
  await device.close();
  if (error) throw error;

  const seconds = meter.seconds;
  const summary: TransferSummary = {
    command: cfg.command,
    remote: remoteText(cfg),
    bytes: meter.bytes,
    seconds: Number(seconds.toFixed(6)),
    mbps: Number((seconds > 0 ? (meter.bytes * 8) / seconds / 1e6 : 0).toFixed(3)),
    sha256: meter.hash.digest('hex'),
    retransmits,
  };
  process.stdout.write(cfg.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
  return 0;
}

