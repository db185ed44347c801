/**
 * How src/api/net.ts drives the core socket, checked on the fake core: partial writes and
 * onDrain, setReading on/off with push() backpressure, shutdown on end(), close vs abort on
 * destroy, options passed through.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, createConnection, Socket, isIP, isIPv4, isIPv6, type AddressInfo } from '../../src/api/net.js';
import { fakeStack, type FakeTcpSocket } from './net-fake-tcp.js';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('net API ↔ core socket (fake core)', () => {
  const keepAlive = setInterval(() => undefined, 1000);
  after(() => clearInterval(keepAlive));

  async function pair(opts: { sendCap?: number; recvCap?: number; server?: Parameters<typeof createServer>[1] } = {}) {
    const st = fakeStack({ sendCap: opts.sendCap ?? 16 * 1024, recvCap: opts.recvCap ?? 16 * 1024, chunk: 4096 });
    let accepted!: Socket;
    let gotResolve!: (s: Socket) => void;
    const got = new Promise<Socket>((r) => (gotResolve = r));
    const server = createServer(st, opts.server ?? {}, (s) => {
      accepted = s;
      gotResolve(s);
    });
    server.listen(0, '10.0.0.2');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const c = createConnection(st, port, '10.0.0.2');
    await once(c, 'connect');
    await got;
    const cores = [...st.tcp.sockets];
    const clientCore = cores.find((s) => s.localPort === c.localPort)! as FakeTcpSocket;
    const serverCore = clientCore.peer!;
    return { st, server, c, s: accepted, clientCore, serverCore, port };
  }

  test('a partial core write keeps the remainder and completes on onDrain; buffering stays bounded', async () => {
    const { c, s, clientCore, serverCore, server } = await pair({ sendCap: 8192, recvCap: 8192 });
    // Server does not read: after the window and the send buffer fill, the write waits.
    s.pause();
    const big = Buffer.alloc(200_000, 0x61);
    let done = false;
    c.write(big, () => (done = true));
    await delay(30);
    assert.equal(done, false);
    assert.ok(clientCore.sendQueued <= 8192);
    assert.ok(serverCore.recvQueued <= 8192);
    assert.equal(serverCore.reading, false, 'reading switched off once push() said stop');
    assert.ok(s.readableLength <= s.readableHighWaterMark + 4096, `readableLength ${s.readableLength}`);
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    s.resume();
    for (let i = 0; i < 500 && !(done && n === big.length); i++) await delay(5);
    assert.equal(done, true);
    assert.equal(n, big.length);
    assert.ok(clientCore.maxBuffered <= 8192 + 8192);
    c.destroy();
    s.on('error', () => undefined);
    server.close();
  });

  test('end() → core shutdown(); destroy() closes like Node (core close()); resetAndDestroy() aborts', async () => {
    const { c, s, clientCore, serverCore, server } = await pair();
    s.resume();
    c.resume();
    c.end();
    await once(s, 'end');
    assert.equal(clientCore.shutdownCalls, 1);
    // server (allowHalfOpen false) ends by itself → both closed → autoDestroy → graceful close
    await once(s, 'close');
    await once(c, 'close');
    assert.equal(serverCore.abortCalls, 0);
    assert.equal(clientCore.abortCalls, 0);
    assert.equal(serverCore.aborted, false);
    assert.equal(clientCore.aborted, false);

    const p = await pair();
    p.s.on('error', () => undefined);
    p.c.destroy();
    assert.equal(p.clientCore.abortCalls, 0, 'destroy() closes as the kernel does on close(): no RST');
    const [hadError] = (await once(p.c, 'close')) as [boolean];
    assert.equal(hadError, false);

    const rst = await pair();
    rst.s.on('error', () => undefined);
    rst.c.resetAndDestroy();
    assert.equal(rst.clientCore.abortCalls, 1, 'resetAndDestroy() → RST');
    await once(rst.c, 'close');

    // destroySoon: end, then destroy after finish: graceful
    const q = await pair();
    q.s.resume();
    q.c.resume();
    q.c.write('bye');
    q.c.destroySoon();
    await once(q.c, 'close');
    assert.equal(q.clientCore.abortCalls, 0);
    assert.equal(q.clientCore.shutdownCalls, 1);

    // resetAndDestroy: always RST
    const r = await pair();
    r.s.on('error', () => undefined);
    r.c.end();
    await once(r.c, 'finish');
    r.c.resetAndDestroy();
    assert.equal(r.clientCore.abortCalls, 1);
    for (const x of [server, p.server, q.server, r.server]) x.close();
  });

  test('setNoDelay / setKeepAlive reach the core; server noDelay/keepAlive options apply to accepted sockets', async () => {
    const { c, clientCore, serverCore, server, s } = await pair({ server: { noDelay: true, keepAlive: true, keepAliveInitialDelay: 5000 } });
    assert.equal(serverCore.noDelay, true);
    assert.deepEqual(serverCore.keepAlive, { on: true, idleMs: 5000 });
    c.setNoDelay();
    assert.equal(clientCore.noDelay, true);
    c.setNoDelay(false);
    assert.equal(clientCore.noDelay, false);
    c.setKeepAlive(true, 1000);
    assert.deepEqual(clientCore.keepAlive, { on: true, idleMs: 1000 });
    c.setKeepAlive(false);
    assert.equal(clientCore.keepAlive.on, false);
    // options set before connect are applied once the core exists
    const st2 = c;
    assert.equal(st2.ref(), st2);
    assert.equal(st2.unref(), st2);
    s.on('error', () => undefined);
    c.destroy();
    server.close();
  });

  test('writes before connect are queued until the connection is up; end() before connect', async () => {
    const st = fakeStack();
    const parts: Buffer[] = [];
    const ended = new Promise<void>((resolve) => {
      const srv = createServer(st, (s) => {
        s.on('data', (d: Buffer) => parts.push(d));
        s.on('end', () => {
          resolve();
          srv.close();
        });
      });
      srv.listen(7000);
    });
    await delay(1);
    const c = createConnection(st, { port: 7000, host: '10.0.0.2' });
    assert.equal(c.write('early '), true);
    c.end('bird');
    assert.equal(c.connecting, true);
    await ended;
    assert.equal(Buffer.concat(parts).toString(), 'early bird');
  });

  test('new Socket({ stack }).connect(port, host, cb); connect without a stack throws', async () => {
    const st = fakeStack();
    const srv = createServer(st, (s) => s.end('hi'));
    srv.listen(7001, '10.0.0.2');
    await once(srv, 'listening');
    const sock = new Socket({ stack: st });
    assert.equal(sock.pending, true);
    assert.equal(sock.readyState, 'open'); // as Node's new net.Socket()
    assert.equal(sock.timeout, undefined);
    assert.deepEqual(sock.address(), {});
    let connected = false;
    assert.equal(sock.connect(7001, '10.0.0.2', () => (connected = true)), sock);
    const parts: Buffer[] = [];
    sock.on('data', (d: Buffer) => parts.push(d));
    await once(sock, 'end');
    assert.equal(connected, true);
    assert.equal(Buffer.concat(parts).toString(), 'hi');
    assert.throws(() => new Socket().connect(1, '10.0.0.2'), { code: 'ERR_INVALID_ARG_VALUE' });
    srv.close();
  });

  test('listen({ signal }) closes the server on abort; isIP', async () => {
    const st = fakeStack();
    const ac = new AbortController();
    const srv = createServer(st);
    srv.listen({ port: 7002, signal: ac.signal });
    await once(srv, 'listening');
    ac.abort();
    await once(srv, 'close');
    assert.equal(srv.listening, false);
    assert.equal(isIP('10.0.0.1'), 4);
    assert.equal(isIP('fe80::1%eth0'), 6);
    assert.equal(isIP('localhost'), 0);
    assert.equal(isIPv4('::1'), false);
    assert.equal(isIPv6('::1'), true);
  });

  test('EHOSTUNREACH while connecting is a connect error with address and port', async () => {
    const st = fakeStack();
    const c = createConnection(st, 80, '10.9.9.9');
    const [err] = (await once(c, 'error')) as [Error & { code: string; syscall: string; address: string; port: number }];
    assert.equal(err.message, 'connect EHOSTUNREACH 10.9.9.9:80');
    assert.equal(err.code, 'EHOSTUNREACH');
    assert.equal(err.syscall, 'connect');
  });

  test('an exception in a data listener does not escape into the core', async () => {
    const { c, s, server } = await pair();
    const uncaught: unknown[] = [];
    const orig = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (e) => uncaught.push(e));
    try {
      s.on('data', () => {
        throw new Error('boom');
      });
      c.write('x');
      await delay(20);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const l of orig) process.on('uncaughtException', l);
    }
    assert.equal(uncaught.length, 1);
    assert.equal((uncaught[0] as Error).message, 'boom');
    s.on('error', () => undefined);
    c.on('error', () => undefined);
    c.destroy();
    s.destroy();
    server.close();
  });
});
