/**
 * The TCP services of `netstack host`, over the stack through the `net`-shaped API
 * (src/api/net.ts), each on IPv4 and IPv6:
 *
 * - echo (RFC 862, port 7): everything received is sent back;
 * - discard (RFC 863, port 9): everything received is read and dropped;
 * - chargen (RFC 864, port 19): sends the character-generator pattern until the peer closes,
 *   and drops what it receives;
 * - HTTP (port 80): Node's own `http` server over the stack (`serveHttp`): `/` is a small HTML
 *   page, `/bytes/N` is N bytes of the chargen pattern (Content-Length set, streamed with
 *   backpressure, never buffered whole), anything else 404. Keep-alive works as in Node.
 *
 * The chargen pattern (RFC 864's suggested one): lines of 72 printable ASCII characters followed
 * by CR LF; line i starts with character 32 + (i mod 95) and continues through the 95 printable
 * characters (32..126) cyclically. The stream repeats every 95 lines (95 × 74 = 7030 bytes).
 * `download`/`upload` and the tests use the same pattern, so a SHA-256 can be predicted.
 */
import * as http from 'node:http';
import { createHash } from 'node:crypto';
import { createServer, serveHttp, type Server, type Socket } from '../api/net.js';
import type { Stack } from '../stack.js';

export const CHARGEN_LINE = 72;
/** Bytes per period of the chargen stream: 95 lines of 72 characters plus CR LF. */
export const CHARGEN_PERIOD = 95 * (CHARGEN_LINE + 2);

/** Largest chunk ChargenSource.next() returns. */
const CHUNK = 64 * 1024;

function chargenPeriod(): Buffer {
  const b = Buffer.allocUnsafe(CHARGEN_PERIOD);
  let o = 0;
  for (let line = 0; line < 95; line++) {
    for (let j = 0; j < CHARGEN_LINE; j++) b[o++] = 32 + ((line + j) % 95);
    b[o++] = 13;
    b[o++] = 10;
  }
  return b;
}

/** Whole periods covering CHUNK bytes from any starting offset inside a period. */
const PATTERN: Buffer = (() => {
  const period = chargenPeriod();
  const periods = Math.ceil((CHUNK + CHARGEN_PERIOD) / CHARGEN_PERIOD);
  return Buffer.concat(Array.from({ length: periods }, () => period));
})();

/**
 * The chargen stream from offset 0, in chunks that are views of one shared, never-modified
 * buffer (no allocation per chunk). Do not modify what next() returns.
 */
export class ChargenSource {
  /** Bytes handed out so far (the stream offset of the next chunk). */
  offset = 0;

  next(max = CHUNK): Buffer {
    const len = Math.min(max, CHUNK);
    const at = this.offset % CHARGEN_PERIOD;
    this.offset += len;
    return PATTERN.subarray(at, at + len);
  }
}

/** SHA-256 (hex) of the first `n` bytes of the chargen stream. */
export function chargenSha256(n: number): string {
  const h = createHash('sha256');
  const src = new ChargenSource();
  for (let left = n; left > 0; ) {
    const c = src.next(Math.min(left, CHUNK));
    h.update(c);
    left -= c.length;
  }
  return h.digest('hex');
}

export interface TcpServicesOptions {
  /** Ports; 0 = that service is off. */
  echo: number;
  discard: number;
  chargen: number;
  http: number;
  /** Diagnostics (stderr). */
  log?: (msg: string) => void;
}

/** What one service did, for the summary printed on exit. */
export interface ServiceTally {
  connections: number;
  /** Bytes the service read (handed to it by its socket): consumed, not just received. */
  bytesIn: number;
  /** Bytes the service wrote to its sockets (chargen), or HTTP bytes written. */
  bytesOut: number;
  /** HTTP requests. */
  requests: number;
}

export interface TcpServices {
  /** `name=port` fields for the ready line, e.g. ['tcp-echo=7', 'discard=9', 'chargen=19', 'http=80']. */
  fields: string[];
  /** Per running service ('echo', 'discard', 'chargen', 'http'). */
  tally(): Record<string, ServiceTally>;
  /** API sockets still open. */
  readonly open: number;
  /**
   * The first step of a clean stop: closes the listeners (a new SYN then gets a RST, as for any
   * closed port) and ends every connection with a FIN after what is already queued. Services keep
   * reading (and counting) what still arrives, so nothing the stack acknowledged is left unread;
   * echo stops echoing, chargen stops generating, HTTP finishes a response in progress
   * ('Connection: close' when its headers are not sent yet) and then closes.
   */
  shutdown(): void;
  /** Resets (RST) every connection still open; returns how many. */
  reset(): number;
  /** shutdown() and reset() at once. */
  close(): Promise<void>;
  /** One line per service, e.g. 'discard: 1048576 bytes from 2 connections'. */
  summary(): string[];
}

/** Largest N for /bytes/N: 1 TiB (the stream is generated, never buffered). */
export const HTTP_BYTES_MAX = 2 ** 40;

const INDEX_HTML = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>netstack</title></head>
<body>
<h1>netstack</h1>
<p>This page comes from a user-space TCP/IP stack written in TypeScript, running Node's own
<code>http</code> server over its TCP.</p>
<ul>
<li><a href="/bytes/1048576">/bytes/N</a>: N bytes of the chargen pattern</li>
</ul>
</body>
</html>
`;

/** The HTTP request handler of the host's web server. */
export function httpHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const path = url.split('?')[0]!;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
    res.end('method not allowed\n');
    return;
  }
  if (path === '/' || path === '/index.html') {
    const body = Buffer.from(INDEX_HTML);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const m = /^\/bytes\/(\d{1,16})$/.exec(path);
  if (m) {
    const n = Number(m[1]);
    if (n > HTTP_BYTES_MAX) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end(`at most ${HTTP_BYTES_MAX} bytes\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    if (req.method === 'HEAD' || n === 0) {
      res.end();
      return;
    }
    streamChargen(res, n);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
}

/** Writes `n` bytes of the chargen stream to `out`, waiting for 'drain' whenever write() says so. */
function streamChargen(out: http.ServerResponse, n: number): void {
  const src = new ChargenSource();
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      if (out.destroyed) return;
      const chunk = src.next(Math.min(left, CHUNK));
      left -= chunk.length;
      if (!out.write(chunk)) {
        out.once('drain', pump);
        return;
      }
    }
    out.end();
  };
  pump();
}

/** Starts chargen on `sock`; returns the function that stops it (FIN after what is queued). */
function chargenConnection(sock: Socket, t: ServiceTally): () => void {
  const src = new ChargenSource();
  let stopped = false;
  const pump = (): void => {
    while (!stopped && !sock.destroyed && sock.writable) {
      const chunk = src.next();
      t.bytesOut += chunk.length;
      if (!sock.write(chunk)) {
        sock.once('drain', pump);
        return;
      }
    }
  };
  sock.on('end', () => {
    stopped = true;
    sock.end();
  });
  sock.on('close', () => {
    stopped = true;
  });
  sock.on('data', (d: Buffer) => (t.bytesIn += d.length)); // input is discarded
  pump();
  return () => {
    stopped = true;
    sock.off('drain', pump);
    if (!sock.writableEnded) sock.end();
  };
}

const newTally = (): ServiceTally => ({ connections: 0, bytesIn: 0, bytesOut: 0, requests: 0 });

/** Starts the services whose port is not 0, on both families. */
export async function startTcpServices(stack: Stack, opts: TcpServicesOptions): Promise<TcpServices> {
  const log = opts.log ?? (() => undefined);
  const servers: Array<{ name: string; server: Server }> = [];
  const fields: string[] = [];
  const tallies: Record<string, ServiceTally> = {};
  /** Open sockets and how each stops cleanly. */
  const sockets = new Map<Socket, () => void>();
  const httpSockets = new Set<Socket>();
  let stopping = false;
  const track = (s: Socket, stop: () => void): void => {
    sockets.set(s, stop);
    s.on('close', () => sockets.delete(s));
    // Peers that reset or vanish are normal for these services; note it and move on.
    s.on('error', (e: Error & { code?: string }) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') log(`tcp ${s.remoteAddress ?? ''}:${s.remotePort ?? ''}: ${e.message}`);
    });
    // A connection completed during shutdown (its handshake raced the listener's close).
    if (stopping) stop();
  };
  const endSoon = (s: Socket): void => {
    if (!s.writableEnded) s.end();
  };

  const listen = (server: Server, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, () => {
        server.off('error', reject);
        resolve();
      });
    });

  // Each handler starts the service on a socket and returns how to stop it cleanly.
  const plain: Array<[string, string, number, (s: Socket, t: ServiceTally) => () => void]> = [
    [
      'echo',
      'tcp-echo',
      opts.echo,
      (s, t) => {
        s.on('data', (d: Buffer) => (t.bytesIn += d.length));
        s.pipe(s);
        return () => {
          // Stop echoing; keep reading (counted) what still arrives, FIN after the echo queued so far.
          s.unpipe(s);
          s.resume();
          endSoon(s);
        };
      },
    ],
    [
      'discard',
      'discard',
      opts.discard,
      (s, t) => {
        s.on('data', (d: Buffer) => (t.bytesIn += d.length));
        return () => endSoon(s);
      },
    ],
    ['chargen', 'chargen', opts.chargen, chargenConnection],
  ];
  try {
    for (const [name, field, port, handle] of plain) {
      if (port === 0) continue;
      const t = (tallies[name] = newTally());
      // allowHalfOpen: false (as Node): after the peer's FIN our side ends too, once the echo
      // has been written.
      const server = createServer(stack, (s) => {
        t.connections++;
        track(s, handle(s, t));
      });
      await listen(server, port);
      servers.push({ name, server });
      fields.push(`${field}=${port}`);
    }
    if (opts.http !== 0) {
      const t = (tallies.http = newTally());
      /** The response in progress on each HTTP connection. */
      const current = new Map<Socket, http.ServerResponse>();
      const h = http.createServer({ keepAlive: true }, (req, res) => {
        t.requests++;
        const sock = req.socket as unknown as Socket;
        current.set(sock, res);
        // During shutdown: answer with 'Connection: close' (Node then closes after the response).
        if (stopping) res.shouldKeepAlive = false;
        res.on('close', () => {
          if (current.get(sock) === res) current.delete(sock);
        });
        httpHandler(req, res);
      });
      h.on('clientError', (err: Error & { code?: string }, sock) => {
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') log(`http client error: ${err.message}`);
        if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        else sock.destroy();
      });
      const server = await new Promise<Server>((resolve, reject) => {
        h.once('error', reject);
        const s = serveHttp(stack, h, opts.http, () => {
          h.off('error', reject);
          resolve(s);
        });
      });
      server.on('connection', (s: Socket) => {
        t.connections++;
        httpSockets.add(s);
        s.on('close', () => {
          httpSockets.delete(s);
          t.bytesIn += s.bytesRead;
          t.bytesOut += s.bytesWritten;
        });
        track(s, () => {
          const res = current.get(s);
          if (res === undefined) {
            // No response in progress: an idle keep-alive connection, which Node's
            // closeIdleConnections (run by server.close()) has usually destroyed already: FIN.
            if (!s.destroyed) s.destroySoon();
            return;
          }
          if (!res.headersSent) res.shouldKeepAlive = false;
          else if (!res.writableFinished) res.once('finish', () => endSoon(s));
          else endSoon(s);
        });
      });
      h.on('error', (e: Error) => log(`http: ${e.message}`));
      servers.push({ name: 'http', server });
      fields.push(`http=${opts.http}`);
    }
  } catch (e) {
    for (const { server } of servers) server.close();
    const err = e as Error & { code?: string };
    throw new Error(`cannot start the TCP services: ${err.message}`);
  }

  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    for (const { server } of servers) server.close();
    for (const [, stop] of sockets) {
      try {
        stop();
      } catch (e) {
        log(`shutdown: ${(e as Error).message}`);
      }
    }
  };
  const reset = (): number => {
    let n = 0;
    for (const s of [...sockets.keys()]) {
      if (!s.destroyed) n++;
      s.resetAndDestroy();
    }
    sockets.clear();
    return n;
  };

  const tally = (): Record<string, ServiceTally> => {
    const out: Record<string, ServiceTally> = {};
    for (const [k, v] of Object.entries(tallies)) out[k] = { ...v };
    // HTTP sockets still open: count what they moved so far.
    for (const sock of httpSockets) {
      out.http!.bytesIn += sock.bytesRead;
      out.http!.bytesOut += sock.bytesWritten;
    }
    return out;
  };

  return {
    fields,
    tally,
    get open() {
      return sockets.size;
    },
    shutdown,
    reset,
    async close() {
      shutdown();
      reset();
    },
    summary() {
      return serviceSummary(tally());
    },
  };
}

/** The exit summary, one line per service: what each consumed and sent. */
export function serviceSummary(tallies: Record<string, ServiceTally>): string[] {
  const conns = (n: number): string => `${n} connection${n === 1 ? '' : 's'}`;
  const lines: string[] = [];
  for (const [name, t] of Object.entries(tallies)) {
    switch (name) {
      case 'echo':
        lines.push(`echo: ${t.bytesIn} bytes from ${conns(t.connections)}`);
        break;
      case 'discard':
        lines.push(`discard: ${t.bytesIn} bytes from ${conns(t.connections)}`);
        break;
      case 'chargen':
        lines.push(`chargen: ${t.bytesOut} bytes to ${conns(t.connections)}`);
        break;
      case 'http':
        lines.push(`http: ${t.requests} request${t.requests === 1 ? '' : 's'} on ${conns(t.connections)}, ${t.bytesIn} bytes in, ${t.bytesOut} bytes out`);
        break;
      default:
        lines.push(`${name}: ${t.bytesIn} bytes in, ${t.bytesOut} bytes out, ${conns(t.connections)}`);
    }
  }
  return lines;
}
