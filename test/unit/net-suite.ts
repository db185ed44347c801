/**
 * The src/api/net.ts test suite, run over any environment that provides a "server" and a
 * "client" NetStack: the in-memory fake core (net-fake.test.ts) and two real Stacks on a
 * MemoryLink pair (net-stack.test.ts).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import {
  createServer,
  createConnection,
  serveHttp,
  HttpAgent,
  httpConnector,
  Socket,
  Server,
  type NetStack,
  type AddressInfo,
} from '../../src/api/net.js';

export interface NetEnv {
  server: NetStack;
  client: NetStack;
  /** The server stack's addresses, as the client reaches them. */
  server4: string;
  server6: string;
  /** The client stack's addresses. */
  client4: string;
  client6: string;
  /** An address the client has no route to (EHOSTUNREACH / ENETUNREACH at once). */
  unreachable: string;
  close(): void | Promise<void>;
}

export interface SuiteOptions {
  /** Bytes for the large transfer. */
  bigBytes: number;
}

type NodeErr = Error & { code?: string; errno?: number; syscall?: string; address?: string; port?: number };

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

async function listen(server: Server, ...args: unknown[]): Promise<number> {
  (server.listen as any)(...args);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function collect(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]);
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

export function netSuite(name: string, makeEnv: () => NetEnv | Promise<NetEnv>, o: SuiteOptions): void {
  describe(name, () => {
    const envs: NetEnv[] = [];
    const env = async (): Promise<NetEnv> => {
      const e = await makeEnv();
      envs.push(e);
      return e;
    };
    // Idle-timeout timers are unref'd (as in Node) and the fake core runs on setImmediate:
    // keep the event loop alive while the suite runs.
    const keepAlive = setInterval(() => undefined, 1000);
    after(async () => {
      clearInterval(keepAlive);
      for (const e of envs) await e.close();
    });

    test('connect, accept, echo over IPv4 and IPv6 with Node-like events and addresses', async () => {
      const e = await env();
      const server = createServer(e.server, (s) => s.pipe(s));
      const port = await listen(server, 0);
      assert.equal(server.listening, true);
      assert.deepEqual(server.address(), { address: '::', family: 'IPv6', port });
      for (const [host, fam, local] of [
        [e.server4, 'IPv4', e.client4],
        [e.server6, 'IPv6', e.client6],
      ] as const) {
        const events: string[] = [];
        const c = createConnection(e.client, { port, host }, () => events.push('cb'));
        assert.equal(c.connecting, true);
        assert.equal(c.pending, true);
        assert.equal(c.readyState, 'opening');
        c.on('connect', () => events.push('connect'));
        c.on('ready', () => events.push('ready'));
        await once(c, 'connect');
        assert.deepEqual(events, ['cb', 'connect', 'ready']);
        assert.equal(c.connecting, false);
        assert.equal(c.pending, false);
        assert.equal(c.readyState, 'open');
        assert.equal(c.remoteAddress, host);
        assert.equal(c.remotePort, port);
        assert.equal(c.remoteFamily, fam);
        assert.equal(c.localAddress, local);
        assert.equal(c.localFamily, fam);
        assert.equal(typeof c.localPort, 'number');
        assert.deepEqual(c.address(), { address: local, family: fam, port: c.localPort });
        const got = collect(c);
        c.write('hello ');
        c.end(Buffer.from('world'));
        assert.equal((await withTimeout(got, 5000, 'echo')).toString(), 'hello world');
        const [hadError] = (await once(c, 'close')) as [boolean];
        assert.equal(hadError, false);
        assert.equal(c.bytesRead, 11);
        assert.equal(c.bytesWritten, 11);
        assert.equal(c.readyState, 'closed');
      }
      server.close();
      await once(server, 'close');
    });

    test('accepted socket: server, addresses, setEncoding, connection count', async () => {
      const e = await env();
      let accepted: Socket | undefined;
      const server = createServer(e.server);
      server.on('connection', (s: Socket) => {
        accepted = s;
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          assert.equal(typeof d, 'string');
          s.end(d.toUpperCase());
        });
      });
      const port = await listen(server, { port: 0, host: e.server4 });
      assert.deepEqual(server.address(), { address: e.server4, family: 'IPv4', port });
      const c = createConnection(e.client, port, e.server4);
      const got = collect(c);
      c.write('héllo');
      assert.equal((await withTimeout(got, 5000, 'upper')).toString(), 'HÉLLO');
      assert.ok(accepted);
      assert.equal(accepted.server, server);
      assert.equal(accepted.remoteAddress, e.client4);
      assert.equal(accepted.remotePort, c.localPort);
      assert.equal(accepted.localAddress, e.server4);
      assert.equal(accepted.localPort, port);
      const n = await new Promise<number>((r) => server.getConnections((_err, k) => r(k)));
      assert.ok(n <= 1);
      c.destroy();
      server.close();
      await once(server, 'close');
    });

    test(`large transfer (${o.bigBytes >> 20} MiB) both ways with backpressure: byte-exact, bounded buffering`, async () => {
      const e = await env();
      const data = pattern(o.bigBytes, 7);
      const want = createHash('sha256').update(data).digest('hex');
      let maxServerQueued = 0;
      const serverDone = new Promise<string>((resolve, reject) => {
        const server = createServer(e.server, (s) => {
          // A slow consumer at first: pause, let the window and the client's buffers fill.
          const h = createHash('sha256');
          let n = 0;
          s.pause();
          setTimeout(() => s.resume(), 150);
          s.on('data', (d: Buffer) => {
            h.update(d);
            n += d.length;
            maxServerQueued = Math.max(maxServerQueued, s.readableLength);
          });
          s.on('end', () => {
            // Echo the hash back and close.
            s.end(`${n} ${h.digest('hex')}`);
            server.close();
          });
          s.on('error', reject);
        });
        server.listen(0, () => {
          const port = (server.address() as AddressInfo).port;
          resolve(String(port));
        });
      });
      const port = Number(await serverDone);
      const c = createConnection(e.client, { port, host: e.server4 });
      await once(c, 'connect');
      let off = 0;
      let maxWritable = 0;
      let sawBackpressure = false;
      const CH = 64 * 1024;
      const reply = collect(c);
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          c.on('error', reject);
          const pump = (): void => {
            while (off < data.length) {
              const chunk = data.subarray(off, Math.min(off + CH, data.length));
              off += chunk.length;
              const ok = c.write(chunk);
              maxWritable = Math.max(maxWritable, c.writableLength);
              if (!ok) {
                sawBackpressure = true;
                c.once('drain', pump);
                return;
              }
            }
            c.end();
            resolve();
          };
          pump();
        }),
        60_000,
        'sending',
      );
      const r = (await withTimeout(reply, 60_000, 'reply')).toString();
      assert.equal(r, `${data.length} ${want}`);
      assert.ok(sawBackpressure, 'write() returned false at some point');
      // writable side: at most the high-water mark plus one chunk
      assert.ok(maxWritable <= c.writableHighWaterMark + CH, `writableLength peaked at ${maxWritable}`);
      // readable side: reading stops at about the high-water mark plus one core delivery
      assert.ok(maxServerQueued <= 2 * 1024 * 1024, `readableLength peaked at ${maxServerQueued}`);
      assert.equal(c.bytesWritten, data.length);
    });

    test('half-close with allowHalfOpen: true — the server keeps writing after the client FIN', async () => {
      const e = await env();
      const server = createServer(e.server, { allowHalfOpen: true }, (s) => {
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => {
          // Our side is still open
          assert.equal(s.writable, true);
          assert.equal(s.readyState, 'writeOnly');
          setTimeout(() => {
            s.write('got:');
            s.end(Buffer.concat(parts));
          }, 20);
        });
      });
      const port = await listen(server, 0);
      const c = createConnection(e.client, { port, host: e.server6, allowHalfOpen: true });
      const got = collect(c);
      c.end('request');
      await once(c, 'finish');
      assert.equal(c.readyState, 'readOnly');
      assert.equal((await withTimeout(got, 5000, 'half-close')).toString(), 'got:request');
      const [hadError] = (await once(c, 'close')) as [boolean];
      assert.equal(hadError, false);
      server.close();
    });

    test('allowHalfOpen: false (default) ends our side after the peer FIN; later writes fail with EPIPE', async () => {
      const e = await env();
      let serverSock: Socket | undefined;
      let serverEndedResolve!: () => void;
      const serverEnded = new Promise<void>((r) => (serverEndedResolve = r));
      const server = createServer(e.server, (s) => {
        serverSock = s;
        s.resume();
        s.on('end', () => setImmediate(serverEndedResolve));
      });
      const port = await listen(server, 0);
      const c = createConnection(e.client, { port, host: e.server4, allowHalfOpen: true });
      const got = collect(c);
      await once(c, 'connect');
      c.end();
      await withTimeout(serverEnded, 5000, 'server end');
      // The server's socket ended its writable side by itself
      assert.ok(serverSock);
      assert.equal(serverSock.writableEnded, true);
      // The client sees the server's FIN
      assert.equal((await withTimeout(got, 5000, 'client end')).length, 0);
      // A write on the server socket now: EPIPE as Node ('This socket has been ended by the other party')
      if (!serverSock.destroyed) {
        const err = await new Promise<NodeErr>((resolve) => {
          serverSock!.on('error', (er: NodeErr) => resolve(er));
          serverSock!.write('late');
        });
        assert.equal(err.code, 'EPIPE');
      }
      // And write after our own end(): ERR_STREAM_WRITE_AFTER_END
      const c2 = createConnection(e.client, { port, host: e.server4 });
      c2.on('error', () => undefined);
      c2.end();
      const werr = await new Promise<NodeErr>((resolve) => c2.write('x', (er) => resolve(er as NodeErr)));
      assert.equal(werr.code, 'ERR_STREAM_WRITE_AFTER_END');
      server.close();
    });

    test('ECONNREFUSED on a closed port, formatted as Node does', async () => {
      const e = await env();
      const c = createConnection(e.client, 4999, e.server4);
      const [err] = (await withTimeout(once(c, 'error'), 10_000, 'refused')) as [NodeErr];
      assert.equal(err.message, `connect ECONNREFUSED ${e.server4}:4999`);
      assert.equal(err.code, 'ECONNREFUSED');
      assert.equal(err.errno, -111);
      assert.equal(err.syscall, 'connect');
      assert.equal(err.address, e.server4);
      assert.equal(err.port, 4999);
      const [hadError] = (await once(c, 'close')) as [boolean];
      assert.equal(hadError, true);
      assert.equal(c.destroyed, true);
      // IPv6 too
      const c6 = createConnection(e.client, { port: 4999, host: e.server6 });
      const [err6] = (await withTimeout(once(c6, 'error'), 10_000, 'refused6')) as [NodeErr];
      assert.equal(err6.message, `connect ECONNREFUSED ${e.server6}:4999`);
    });

    test('no route: connect EHOSTUNREACH / ENETUNREACH with address and port', async () => {
      const e = await env();
      const c = createConnection(e.client, 80, e.unreachable);
      const [err] = (await withTimeout(once(c, 'error'), 10_000, 'unreachable')) as [NodeErr];
      assert.ok(err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH', String(err.code));
      assert.equal(err.message, `connect ${err.code} ${e.unreachable}:80`);
      assert.equal(err.syscall, 'connect');
      assert.equal(err.address, e.unreachable);
      assert.equal(err.port, 80);
      assert.ok(typeof err.errno === 'number' && err.errno < 0);
      const [hadError] = (await once(c, 'close')) as [boolean];
      assert.equal(hadError, true);
    });

    test('host names: ENOTFOUND (no DNS); bad ports throw ERR_SOCKET_BAD_PORT', async () => {
      const e = await env();
      const c = createConnection(e.client, 80, 'example.com');
      const [err] = (await once(c, 'error')) as [NodeErr & { hostname?: string }];
      assert.equal(err.code, 'ENOTFOUND');
      assert.equal(err.syscall, 'getaddrinfo');
      assert.equal(err.hostname, 'example.com');
      assert.match(err.message, /^getaddrinfo ENOTFOUND example\.com/);
      assert.throws(() => createConnection(e.client, 70000, e.server4), { code: 'ERR_SOCKET_BAD_PORT' });
      assert.throws(() => createServer(e.server).listen(-1), { code: 'ERR_SOCKET_BAD_PORT' });
      assert.throws(() => createConnection(e.client, { port: 80, host: e.server4, localAddress: 'nope' }), {
        code: 'ERR_INVALID_IP_ADDRESS',
      });
    });

    test('EADDRINUSE as Node formats it; the dual-stack listen holds both families', async () => {
      const e = await env();
      const a = createServer(e.server);
      const port = await listen(a, 0);
      // Same port, no host (dual): fails on '::'
      const b = createServer(e.server);
      b.listen(port);
      const [err] = (await once(b, 'error')) as [NodeErr];
      assert.equal(err.message, `listen EADDRINUSE: address already in use :::${port}`);
      assert.equal(err.code, 'EADDRINUSE');
      assert.equal(err.errno, -98);
      assert.equal(err.syscall, 'listen');
      assert.equal(err.address, '::');
      assert.equal(err.port, port);
      assert.equal(b.listening, false);
      assert.equal(b.address(), null);
      // IPv4 only, the v4 wildcard is held by the dual-stack server too
      const c = createServer(e.server);
      c.listen(port, '0.0.0.0');
      const [err4] = (await once(c, 'error')) as [NodeErr];
      assert.equal(err4.message, `listen EADDRINUSE: address already in use 0.0.0.0:${port}`);
      // listen twice
      assert.throws(() => a.listen(0), { code: 'ERR_SERVER_ALREADY_LISTEN' });
      a.close();
      await once(a, 'close');
      // The port is free again, on both families
      const d = createServer(e.server);
      await listen(d, { port, host: '::', ipv6Only: true });
      assert.deepEqual(d.address(), { address: '::', family: 'IPv6', port });
      const f = createServer(e.server);
      await listen(f, port, '0.0.0.0');
      d.close();
      f.close();
    });

    test('resetAndDestroy() sends a RST: the peer gets read ECONNRESET', async () => {
      const e = await env();
      const server = createServer(e.server, (s) => {
        s.once('data', () => s.resetAndDestroy());
      });
      const port = await listen(server, 0);
      const c = createConnection(e.client, port, e.server4);
      c.resume();
      c.write('x');
      const [err] = (await withTimeout(once(c, 'error'), 10_000, 'reset')) as [NodeErr];
      assert.equal(err.message, 'read ECONNRESET');
      assert.equal(err.code, 'ECONNRESET');
      assert.equal(err.errno, -104);
      assert.equal(err.syscall, 'read');
      const [hadError] = (await once(c, 'close')) as [boolean];
      assert.equal(hadError, true);
      // Writes after the reset fail (the stream is destroyed)
      const werr = await new Promise<NodeErr>((resolve) => c.write('y', (er) => resolve(er as NodeErr)));
      assert.ok(werr);
      server.close();
    });

    test('setTimeout: idle timeout event, reset by activity, disabled with 0', async () => {
      const e = await env();
      const server = createServer(e.server, (s) => {
        s.resume();
        s.on('error', () => undefined); // the client destroys (RST) at the end
      });
      const port = await listen(server, 0);
      const c = createConnection(e.client, { port, host: e.server4, timeout: 400 });
      assert.equal(c.timeout, 400);
      await once(c, 'connect');
      const t0 = Date.now();
      // activity every 50 ms for ~600 ms: no timeout (unless this host stalls us)
      let fired = 0;
      let maxGap = 0;
      let last = Date.now();
      c.on('timeout', () => fired++);
      for (let i = 0; i < 12; i++) {
        await delay(50);
        maxGap = Math.max(maxGap, Date.now() - last);
        last = Date.now();
        c.write('.');
      }
      if (maxGap < 300) assert.equal(fired, 0);
      await withTimeout(once(c, 'timeout'), 3000, 'idle timeout');
      assert.ok(Date.now() - t0 >= 600);
      assert.equal(c.destroyed, false, 'timeout does not close the socket');
      // fires again only after new activity; disabled with 0
      const cb = (): void => undefined;
      c.setTimeout(0, cb);
      assert.equal(c.listenerCount('timeout'), 1);
      c.setTimeout(30, cb);
      assert.equal(c.listenerCount('timeout'), 2);
      await once(c, 'timeout');
      c.setTimeout(0);
      const before = fired;
      await delay(80);
      assert.equal(fired, before);
      c.destroy();
      server.close();
    });

    test('server.close(): stops accepting, "close" after the last connection ends', async () => {
      const e = await env();
      const server = createServer(e.server, (s) => s.resume());
      const port = await listen(server, 0);
      const c = createConnection(e.client, port, e.server4);
      await once(c, 'connect');
      await waitFor(async () => (await new Promise<number>((r) => server.getConnections((_e, n) => r(n)))) === 1, 5000, 'accept');
      let closed = false;
      let cbErr: unknown = 'not called';
      server.close((er) => {
        cbErr = er;
        closed = true;
      });
      assert.equal(server.listening, false);
      assert.equal(server.address(), null);
      // new connections are refused
      const c2 = createConnection(e.client, port, e.server4);
      const [err] = (await withTimeout(once(c2, 'error'), 10_000, 'refused after close')) as [NodeErr];
      assert.equal(err.code, 'ECONNREFUSED');
      await delay(30);
      assert.equal(closed, false, "'close' waits for the open connection");
      c.end();
      await withTimeout(once(server, 'close'), 5000, 'server close');
      assert.equal(closed, true);
      assert.equal(cbErr, undefined);
      // close() on a server that is not running: ERR_SERVER_NOT_RUNNING
      const idle = createServer(e.server);
      const nrErr = await new Promise<NodeErr | undefined>((r) => idle.close((er) => r(er as NodeErr)));
      assert.equal(nrErr?.code, 'ERR_SERVER_NOT_RUNNING');
    });

    test('maxConnections drops excess connections; pauseOnConnect delivers nothing until resume()', async () => {
      const e = await env();
      const drops: unknown[] = [];
      let acceptedSock: Socket | undefined;
      const server = createServer(e.server, { pauseOnConnect: true }, (s) => {
        acceptedSock = s;
        s.on('error', () => undefined); // the client destroys (RST) at the end
      });
      server.maxConnections = 1;
      server.on('drop', (d) => drops.push(d));
      const port = await listen(server, 0);
      const c1 = createConnection(e.client, port, e.server4);
      await once(c1, 'connect');
      c1.write('abc');
      await waitFor(() => acceptedSock !== undefined, 5000, 'accept');
      await delay(50);
      assert.ok(acceptedSock);
      assert.equal(acceptedSock.isPaused(), true);
      assert.equal(acceptedSock.readableLength, 0, 'nothing read while paused');
      const c2 = createConnection(e.client, port, e.server4);
      c2.on('error', () => undefined);
      c2.resume();
      await withTimeout(once(c2, 'close'), 5000, 'dropped connection closes');
      assert.equal(drops.length, 1);
      const got: Buffer[] = [];
      const first = once(acceptedSock, 'data');
      acceptedSock.on('data', (d: Buffer) => got.push(d));
      acceptedSock.resume();
      await withTimeout(first, 5000, 'data after resume');
      await delay(20);
      assert.equal(Buffer.concat(got).toString(), 'abc');
      c1.destroy();
      server.close();
    });

    test('http: GET with Content-Length, chunked POST, over HttpAgent and httpConnector', async () => {
      const e = await env();
      const httpServer = http.createServer((req, res) => {
        if (req.method === 'GET') {
          const body = `hello ${req.url}`;
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
          res.end(body);
          return;
        }
        const h = createHash('sha256');
        let n = 0;
        req.on('data', (d: Buffer) => {
          h.update(d);
          n += d.length;
        });
        req.on('end', () => {
          res.setHeader('X-TE', String(req.headers['transfer-encoding']));
          res.end(`${n} ${h.digest('hex')}`);
        });
      });
      const listening = new Promise<void>((r) => httpServer.once('listening', () => r()));
      const ns = serveHttp(e.server, httpServer, 8080);
      await listening;
      assert.equal(ns.listening, true);

      // GET through httpConnector (no agent)
      const get = await withTimeout(
        new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
          const req = http.request(
            { host: e.server4, port: 8080, path: '/x', createConnection: httpConnector(e.client) },
            (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (d: string) => (body += d));
              res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
            },
          );
          req.on('error', reject);
          req.end();
        }),
        10_000,
        'GET',
      );
      assert.equal(get.status, 200);
      assert.equal(get.headers['content-length'], '8');
      assert.equal(get.body, 'hello /x');

      // GET with an inline createConnection (the form in the docs)
      const get2 = await withTimeout(
        new Promise<string>((resolve, reject) => {
          http
            .get({ host: e.server6, port: 8080, path: '/y', createConnection: () => createConnection(e.client, { port: 8080, host: e.server6 }) }, (res) => {
              let body = '';
              res.on('data', (d: Buffer) => (body += d.toString()));
              res.on('end', () => resolve(body));
            })
            .on('error', reject);
        }),
        10_000,
        'GET inline',
      );
      assert.equal(get2, 'hello /y');

      // chunked POST through the agent (IPv6)
      const agent = new HttpAgent(e.client, { keepAlive: true });
      const payload = pattern(300_000, 3);
      const post = await withTimeout(
        new Promise<{ te: string | undefined; body: string }>((resolve, reject) => {
          const req = http.request({ host: e.server6, port: 8080, method: 'POST', path: '/up', agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ te: res.headers['x-te'] as string | undefined, body }));
          });
          req.on('error', reject);
          // several writes without Content-Length → chunked
          for (let i = 0; i < payload.length; i += 50_000) req.write(payload.subarray(i, i + 50_000));
          req.end();
        }),
        20_000,
        'POST',
      );
      assert.equal(post.te, 'chunked');
      assert.equal(post.body, `${payload.length} ${createHash('sha256').update(payload).digest('hex')}`);
      agent.destroy();
      await new Promise<void>((r) => ns.close(() => r()));
    });

    test('http: Connection: close, keepAliveTimeout, a server that answers before the body ends', async () => {
      const e = await env();
      const httpServer = http.createServer((req, res) => {
        if (req.url === '/early') {
          // respond before reading the body
          res.writeHead(413, { Connection: 'close' });
          res.end('too big');
          return;
        }
        req.resume();
        req.on('end', () => res.end('ok'));
      });
      httpServer.keepAliveTimeout = 150;
      const ns = serveHttp(e.server, httpServer, 0);
      await once(ns, 'listening');
      const port = (ns.address() as AddressInfo).port;
      const request = (opts: http.RequestOptions, body?: Buffer): Promise<{ status: number; body: string; sock: Socket }> =>
        new Promise((resolve, reject) => {
          const req = http.request({ host: e.server4, port, ...opts }, (res) => {
            let b = '';
            res.on('data', (d: Buffer) => (b += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body: b, sock: req.socket as unknown as Socket }));
          });
          req.on('error', reject);
          req.end(body);
        });
      // Connection: close → the server ends the connection gracefully after the response
      const r1 = await withTimeout(request({ headers: { Connection: 'close' }, createConnection: httpConnector(e.client) }), 10_000, 'close');
      assert.equal(r1.body, 'ok');
      const [hadError] = (await withTimeout(once(r1.sock, 'close'), 5000, 'sock close')) as [boolean];
      assert.equal(hadError, false);
      // keepAliveTimeout: the server closes an idle keep-alive connection — with a FIN, as
      // over Node (the http helpers use resetOnDestroy: false)
      const raw = createConnection(e.client, port, e.server4);
      const rawGot = collect(raw);
      raw.write(`GET /ka HTTP/1.1\r\nHost: x\r\n\r\n`);
      const t0 = Date.now();
      const text = (await withTimeout(rawGot, 5000, 'keepAliveTimeout')).toString();
      assert.ok(Date.now() - t0 >= 140, `closed after ${Date.now() - t0} ms`);
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\n\r\nok$/);
      const agent = new HttpAgent(e.client, { keepAlive: true });
      // early response to a large POST
      const r3 = await withTimeout(
        request({ method: 'POST', path: '/early', agent }, Buffer.alloc(64 * 1024, 1)).catch((er: NodeErr) => ({ status: -1, body: String(er.code), sock: undefined as unknown as Socket })),
        10_000,
        'early',
      );
      assert.ok(r3.status === 413 || ['ECONNRESET', 'EPIPE'].includes(r3.body), `got ${r3.status} ${r3.body}`);
      agent.destroy();
      await new Promise<void>((r) => ns.close(() => r()));
    });

    test('many concurrent connections', async () => {
      const e = await env();
      const server = createServer(e.server, (s) => s.pipe(s));
      const port = await listen(server, 0);
      const N = 40;
      const results = await withTimeout(
        Promise.all(
          Array.from({ length: N }, async (_, i) => {
            const c = createConnection(e.client, { port, host: i % 2 ? e.server4 : e.server6 });
            const got = collect(c);
            const msg = pattern(10_000 + i * 100, i + 1);
            c.end(msg);
            const back = await got;
            return back.equals(msg);
          }),
        ),
        30_000,
        'concurrent echo',
      );
      assert.deepEqual(results, Array(N).fill(true));
      server.close();
      await withTimeout(once(server, 'close'), 5000, 'server close');
    });

    test('http: 50 keep-alive requests on one connection', async () => {
      const e = await env();
      const conns = new Set<string>();
      let connectionEvents = 0;
      const httpServer = http.createServer((req, res) => {
        conns.add(`${req.socket.remoteAddress}:${req.socket.remotePort}`);
        res.end(`r${req.url}`);
      });
      httpServer.on('connection', () => connectionEvents++);
      const ns = serveHttp(e.server, httpServer, { port: 8081, host: e.server4 });
      await once(ns, 'listening');
      const agent = new HttpAgent(e.client, { keepAlive: true, maxSockets: 1 });
      const bodies: string[] = [];
      for (let i = 0; i < 50; i++) {
        const body = await withTimeout(
          new Promise<string>((resolve, reject) => {
            http
              .get({ host: e.server4, port: 8081, path: `/${i}`, agent }, (res) => {
                assert.equal(res.headers.connection, 'keep-alive');
                let b = '';
                res.setEncoding('utf8');
                res.on('data', (d: string) => (b += d));
                res.on('end', () => resolve(b));
              })
              .on('error', reject);
          }),
          10_000,
          `request ${i}`,
        );
        bodies.push(body);
      }
      assert.deepEqual(bodies, Array.from({ length: 50 }, (_, i) => `r/${i}`));
      assert.equal(conns.size, 1, 'one connection');
      assert.equal(connectionEvents, 1);
      // pipelined-ish: 20 concurrent requests share the single pooled socket
      const many = await withTimeout(
        Promise.all(
          Array.from(
            { length: 20 },
            (_, i) =>
              new Promise<string>((resolve, reject) => {
                http
                  .get({ host: e.server4, port: 8081, path: `/p${i}`, agent }, (res) => {
                    let b = '';
                    res.on('data', (d: Buffer) => (b += d.toString()));
                    res.on('end', () => resolve(b));
                  })
                  .on('error', reject);
              }),
          ),
        ),
        20_000,
        'concurrent',
      );
      assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => `r/p${i}`));
      assert.equal(conns.size, 1);
      agent.destroy();
      // closing the http server closes ours too
      httpServer.close();
      await withTimeout(once(ns, 'close'), 5000, 'ns close');
    });
  });
}
