import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { stackPair } from './ip-harness.js';
import { createSocket, type RemoteInfo } from '../../src/api/dgram.js';

function setup() {
  const p = stackPair({ kind: 'ip' });
  return p;
}

/** Lets nextTick callbacks run, then delivers frames both ways. */
async function pump(settle: () => number): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setImmediate(r));
    settle();
  }
}

describe('dgram API', () => {
  test('echo over udp4 and udp6 with Node-like events', async () => {
    const { a, b, settle } = setup();
    for (const [type, addr, fam] of [
      ['udp4', '10.0.0.2', 'IPv4'],
      ['udp6', 'fd00::2', 'IPv6'],
    ] as const) {
      const server = createSocket(b, type);
      server.on('message', (msg: Buffer, rinfo: RemoteInfo) => server.send(msg, rinfo.port, rinfo.address));
      const listening = once(server, 'listening');
      server.bind(7000);
      await listening;
      assert.deepEqual(server.address(), { address: type === 'udp4' ? '0.0.0.0' : '::', family: fam, port: 7000 });
      const got: Array<[Buffer, RemoteInfo]> = [];
      const client = createSocket(a, type, (msg, rinfo) => got.push([msg, rinfo]));
      let sent = -1;
      client.send('hello', 7000, addr, (err, n) => {
        assert.equal(err, null);
        sent = n!;
      });
      await pump(settle);
      assert.equal(sent, 5);
      assert.equal(got.length, 1);
      assert.ok(Buffer.isBuffer(got[0]![0]));
      assert.equal(got[0]![0].toString(), 'hello');
      assert.deepEqual(got[0]![1], { address: addr, family: fam, port: 7000, size: 5 });
      const closed = once(client, 'close');
      client.close();
      await closed;
      server.close();
    }
  });

  test('send variants: offset/length, arrays, Uint8Array, bind({port,address}, cb)', async () => {
    const { a, b, settle } = setup();
    const server = createSocket(b, 'udp4');
    const msgs: string[] = [];
    server.on('message', (m: Buffer) => msgs.push(m.toString()));
    await new Promise<void>((r) => server.bind({ port: 9000, address: '10.0.0.2' }, r));
    const c = createSocket(a, 'udp4');
    c.send(Buffer.from('xxabcxx'), 2, 3, 9000, '10.0.0.2');
    c.send(['ab', Buffer.from('cd'), Uint8Array.of(0x65)], 9000, '10.0.0.2');
    c.send(new Uint8Array([0x7a]), 9000, '10.0.0.2', () => undefined);
    await pump(settle);
    assert.deepEqual(msgs, ['abc', 'abcde', 'z']);
  });

  test('errors: EADDRINUSE emitted, EMSGSIZE to the callback, bad port thrown', async () => {
    const { a } = setup();
    const s1 = createSocket(a, 'udp4');
    s1.bind(5000);
    const s2 = createSocket(a, 'udp4');
    const errP = once(s2, 'error');
    s2.bind(5000);
    const [err] = (await errP) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'EADDRINUSE');
    assert.equal(err.syscall, 'bind');
    assert.equal(err.errno, -98);
    assert.match(err.message, /bind EADDRINUSE 0\.0\.0\.0:5000/);
    const e2 = await new Promise<NodeJS.ErrnoException | null>((r) => s1.send(Buffer.alloc(70000), 9, '10.0.0.2', (e) => r(e as NodeJS.ErrnoException)));
    assert.equal(e2!.code, 'EMSGSIZE');
    assert.throws(() => s1.send('x', 0, '10.0.0.2'), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => s1.send('x', 70000, '10.0.0.2'), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => createSocket(a, 'udp4').bind(-1), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => s1.bind(1), { code: 'ERR_SOCKET_ALREADY_BOUND' });
    const e3 = once(s1, 'error');
    s1.send('x', 9, '8.8.8.8');
    const [err3] = (await e3) as [NodeJS.ErrnoException];
    assert.equal(err3.code, 'ENETUNREACH');
  });

  test('closed socket: ERR_SOCKET_DGRAM_NOT_RUNNING; address() before bind: EBADF', async () => {
    const { a } = setup();
    const s = createSocket(a, 'udp6');
    assert.throws(() => s.address(), { code: 'EBADF' });
    const closed = once(s, 'close');
    let cbCalled = false;
    s.close(() => {
      cbCalled = true;
    });
    await closed;
    assert.ok(cbCalled);
    assert.throws(() => s.send('x', 1, 'fd00::2'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    assert.throws(() => s.close(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    assert.throws(() => s.bind(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });

  test('implicit bind on first send emits listening; setTTL; ref/unref; bad type', async () => {
    const { a, settle } = setup();
    const s = createSocket(a, { type: 'udp4', reuseAddr: true });
    const l = once(s, 'listening');
    s.send('x', 9, '10.0.0.2');
    await l;
    const port = s.address().port;
    assert.ok(port >= 49152);
    assert.equal(s.setTTL(9), 9);
    assert.throws(() => s.setTTL(0), { code: 'EINVAL' });
    assert.equal(s.ref(), s);
    assert.equal(s.unref(), s);
    s.setBroadcast(true);
    assert.throws(() => createSocket(a, 'udp5' as 'udp4'), { code: 'ERR_SOCKET_BAD_TYPE' });
    await pump(settle);
    s.close();
  });

  test('a throwing message listener does not break the stack receive path', async () => {
    const { a, b, settle } = setup();
    const server = createSocket(b, 'udp4');
    const got: string[] = [];
    server.on('message', (m: Buffer) => got.push(m.toString()));
    server.bind(7);
    const c = createSocket(a, 'udp4');
    c.send('x', 7, '10.0.0.2');
    await pump(settle);
    assert.deepEqual(got, ['x']);
    assert.equal(b.counters.get('drop.internal.exception'), 0);
  });

  test('connect / send without address / remoteAddress / disconnect / ECONNREFUSED as error', async () => {
    const { a, b, settle } = setup();
    const server = createSocket(b, 'udp6');
    server.on('message', (m: Buffer, r: RemoteInfo) => server.send(m, r.port, r.address));
    server.bind(4000);
    const c = createSocket(a, 'udp6');
    const connected = once(c, 'connect');
    c.connect(4000, 'fd00::2');
    await connected;
    assert.deepEqual(c.remoteAddress(), { address: 'fd00::2', family: 'IPv6', port: 4000 });
    const got: string[] = [];
    c.on('message', (m: Buffer) => got.push(m.toString()));
    c.send('one');
    c.send(Buffer.from('xtwox'), 1, 3, (err) => assert.equal(err, null));
    assert.throws(() => c.send('x', 4000, 'fd00::2'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    assert.throws(() => c.connect(4000, 'fd00::2'), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
    await pump(settle);
    assert.deepEqual(got, ['one', 'two']);
    c.disconnect();
    assert.throws(() => c.remoteAddress(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    assert.throws(() => c.disconnect(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' });
    const c2 = createSocket(a, 'udp4');
    c2.connect(4999, '10.0.0.2');
    await once(c2, 'connect');
    const errP = once(c2, 'error');
    c2.send('ping');
    await pump(settle);
    const [err] = (await errP) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.errno, -111);
  });
});
