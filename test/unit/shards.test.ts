/** `--shards N` parsing, and the counter tables summed over shards (no device needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostArgs, UsageError, SHARDS_MAX } from '../../src/cli/args.js';
import { sumCounters } from '../../src/node/shards.js';
import { formatShardStats } from '../../src/cli/sharded-host.js';

test('--shards: absent is 0 (one stack on the main thread), else 1..SHARDS_MAX', () => {
  assert.equal(parseHostArgs('host', []).shards, 0);
  assert.equal(parseHostArgs('host', ['--shards', '1']).shards, 1);
  assert.equal(parseHostArgs('host', ['--shards', '2']).shards, 2);
  assert.equal(parseHostArgs('host', ['--shards', String(SHARDS_MAX)]).shards, SHARDS_MAX);
  for (const bad of ['0', String(SHARDS_MAX + 1), '-1', '1.5', 'two', '']) {
    assert.throws(() => parseHostArgs('host', ['--shards', bad]), UsageError, bad);
  }
});

test('--shards refuses what it cannot do', () => {
  assert.throws(() => parseHostArgs('host', ['--shards', '2', '--tap']), /needs a TUN device/);
  assert.throws(() => parseHostArgs('host', ['--shards', '2', '--pcap', '/tmp/x.pcap']), /--pcap is not supported with --shards/);
  assert.throws(() => parseHostArgs('udp-echo', ['--shards', '2']), /--shards is an option of netstack host/);
});

test('sumCounters adds key by key; missing keys and missing shards count as 0', () => {
  assert.deepEqual(sumCounters([{ b: 1, a: 2 }, undefined, { a: 3, c: 4 }]), { a: 5, b: 1, c: 4 });
  assert.deepEqual(sumCounters([]), {});
});

test('the sharded counter table: sums first, then each shard, a silent shard marked', () => {
  const s0 = { stack: { 'tcp.passive_opens': 3, 'tcp.rx': 10 }, link: { rxPackets: 10, txPackets: 20 } };
  const s1 = { stack: { 'tcp.passive_opens': 5, 'udp.rx': 2 }, link: { rxPackets: 7, txPackets: 1 } };
  const text = formatShardStats('tun0', 1.25, [s0, s1, undefined]);
  assert.match(text, /^netstack counters, dev tun0, 3 shards, 1 not answering, up 1\.3 s\n/);
  assert.match(text, /stack \(sum of 2 shards\)\n(?:.*\n)*?\s+tcp\.passive_opens\s+8\n/);
  assert.match(text, /link tun0 \(sum of 2 queues\)\n\s+rxPackets\s+17\n\s+txPackets\s+21\n/);
  assert.match(text, /shard 0\n(?:.*\n)*?\s+tcp\.passive_opens\s+3\n/);
  assert.match(text, /shard 1\n(?:.*\n)*?\s+udp\.rx\s+2\n/);
  assert.match(text, /shard 2\n\s+answered\s+no\n/);
});
