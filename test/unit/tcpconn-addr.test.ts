import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sim, concat, bytesEqual, pattern, openPair } from './tcp-harness.js';

// IPv6 addresses reach TCP as views into the received frame, and the driver reuses its receive
// buffer for later frames. A passive connection must keep its own copies of both addresses: the
// soak (scripts/soak.mjs) found IPv6 connections sending to bytes of a later IPv4 header.
test('tcpconn: a passive IPv6 connection keeps its addresses when the receive buffer is reused', () => {
  const sim = new Sim(3);
  const views: Uint8Array[] = [];
  sim.onSegment = (p) => {
    if (p.family !== 6 || p.to !== sim.b) return;
    // Each segment to b gets its own address buffers, scribbled over once the handshake is done.
    p.src = (p.src as Uint8Array).slice();
    p.dst = (p.dst as Uint8Array).slice();
    views.push(p.src, p.dst);
  };
  const { client, server } = openPair(sim, 6);
  for (const v of views) v.fill(0xee);
  const got: Uint8Array[] = [];
  client.onData = (d) => got.push(d.slice());
  const data = pattern(20_000, 9);
  assert.equal(server.write(data), data.length);
  sim.run(() => concat(got).length === data.length, 30_000);
  assert.ok(bytesEqual(concat(got), data), 'the client received the server data');
  assert.equal(server.remoteAddress, 'fd00::1');
  assert.equal(server.localAddress, 'fd00::2');
});
