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

export interface TcpServices {
  /** `name=port` fields for the ready line, e.g. ['tcp-echo=7', 'discard=9', 'chargen=19', 'http=80']. */
  fields: string[];
  close(): Promise<void>;
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

function chargenConnection(sock: Socket): void {
  const src = new ChargenSource();
  let stopped = false;
  const pump = (): void => {
    while (!stopped && !sock.destroyed && sock.writable) {
      if (!sock.write(src.next())) {
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
  sock.resume(); // input is discarded
  pump();
}

/** Starts the services whose port is not 0, on both families. */
export async function startTcpServices(stack: Stack, opts: TcpServicesOptions): Promise<TcpServices> {
  const log = opts.log ?? (() => undefined);
  const servers: Array<{ name: string; server: Server }> = [];
  const fields: string[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    // Peers that reset or vanish are normal for these services; note it and move on.
    s.on('error', (e: Error & { code?: string }) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') log(`tcp ${s.remoteAddress ?? ''}:${s.remotePort ?? ''}: ${e.message}`);
    });
  };

  const listen = (server: Server, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, () => {
        server.off('error', reject);
        resolve();
      });
    });

  const plain: Array<[string, string, number, (s: Socket) => void]> = [
    ['echo', 'tcp-echo', opts.echo, (s) => s.pipe(s)],
    ['discard', 'discard', opts.discard, (s) => s.resume()],
    ['chargen', 'chargen', opts.chargen, chargenConnection],
  ];
  try {
    for (const [name, field, port, handle] of plain) {
      if (port === 0) continue;
      // allowHalfOpen: false (as Node): after the peer's FIN our side ends too, once the echo
      // has been written.
      const server = createServer(stack, (s) => {
        track(s);
        handle(s);
      });
      await listen(server, port);
      servers.push({ name, server });
      fields.push(`${field}=${port}`);
    }
    if (opts.http !== 0) {
      const h = http.createServer({ keepAlive: true }, httpHandler);
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
      h.on('error', (e: Error) => log(`http: ${e.message}`));
      servers.push({ name: 'http', server });
      fields.push(`http=${opts.http}`);
    }
  } catch (e) {
    for (const { server } of servers) server.close();
    const err = e as Error & { code?: string };
    throw new Error(`cannot start the TCP services: ${err.message}`);
  }

  return {
    fields,
    async close() {
      for (const { server } of servers) server.close();
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
