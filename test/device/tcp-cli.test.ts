/**
 * The option parsing, chargen pattern and progress line behind the TCP commands. These need no
 * device (they sit with the TCP device tests they support).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UsageError, parseEndpoint, parseHostArgs, parseSize, parseTransferArgs } from '../../src/cli/args.js';
import { CHARGEN_PERIOD, ChargenSource, chargenSha256 } from '../../src/cli/services.js';
import { Progress } from '../../src/cli/progress.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('TCP command options', () => {
  test('host: TCP services on by default, --http-port, --no-tcp-services', () => {
    const c = parseHostArgs('host', []);
    assert.equal(c.tcpServices, true);
    assert.equal(c.httpPort, 80);
    assert.equal(parseHostArgs('host', ['--http-port', '8080']).httpPort, 8080);
    assert.equal(parseHostArgs('host', ['--http-port', '0']).httpPort, 0);
    const off = parseHostArgs('host', ['--no-tcp-services']);
    assert.equal(off.tcpServices, false);
    assert.equal(off.httpPort, 0);
    assert.equal(parseHostArgs('udp-echo', []).tcpServices, false);
    assert.throws(() => parseHostArgs('host', ['--http-port', '7']), /taken by the echo/);
    assert.throws(() => parseHostArgs('host', ['--http-port', '70000']), UsageError);
    assert.throws(() => parseHostArgs('udp-echo', ['--http-port', '80']), UsageError);
    assert.throws(() => parseHostArgs('host', ['--no-tcp-services', '--http-port', '81']), UsageError);
  });

  test('sizes', () => {
    assert.equal(parseSize('104857600', '--bytes'), 104857600);
    assert.equal(parseSize('100M', '--bytes'), 100 * 2 ** 20);
    assert.equal(parseSize('1GiB', '--bytes'), 2 ** 30);
    assert.equal(parseSize('4k', '--bytes'), 4096);
    assert.equal(parseSize('10B', '--bytes'), 10);
    for (const bad of ['', 'x', '1.5M', '-1', '1Q', '99999999999T']) assert.throws(() => parseSize(bad, '--bytes'), UsageError, bad);
  });

  test('endpoints', () => {
    assert.deepEqual(parseEndpoint('10.0.0.1:3000', 1, '--connect'), { host: '10.0.0.1', port: 3000, family: 4 });
    assert.deepEqual(parseEndpoint('[fd00::1]:3000', 1, '--connect'), { host: 'fd00::1', port: 3000, family: 6 });
    assert.deepEqual(parseEndpoint('[fe80::1%tun0]:80', 1, '--connect'), { host: 'fe80::1%tun0', port: 80, family: 6 });
    assert.deepEqual(parseEndpoint('10.0.0.1', 3000, '--connect'), { host: '10.0.0.1', port: 3000, family: 4 });
    for (const bad of ['fd00::1:3000', 'example.com:80', '[fd00::1', '[10.0.0.1]:80', '10.0.0.1:0', '10.0.0.1:x']) {
      assert.throws(() => parseEndpoint(bad, 3000, '--connect'), UsageError, bad);
    }
  });

  test('download and upload defaults and rules', () => {
    const d = parseTransferArgs('download', []);
    assert.deepEqual(d.connect, { host: '10.0.0.1', port: 3000, family: 4 });
    assert.equal(d.bytes, undefined);
    assert.equal(d.json, false);
    assert.equal(d.progress, 'auto');
    assert.deepEqual(parseTransferArgs('download', ['--v6']).connect, { host: 'fd00::1', port: 3000, family: 6 });
    assert.deepEqual(parseTransferArgs('download', ['--host-ip', '192.168.5.1/24']).connect.host, '192.168.5.1');
    const u = parseTransferArgs('upload', ['--bytes', '100M', '--json', '--no-progress', '--connect', '[fd00::1]:5001', '--dev', 'tunx']);
    assert.equal(u.bytes, 100 * 2 ** 20);
    assert.equal(u.json, true);
    assert.equal(u.progress, 'off');
    assert.equal(u.connect.port, 5001);
    assert.equal(u.dev, 'tunx');
    assert.equal(parseTransferArgs('download', ['--http', '/x']).http, '/x');
    assert.throws(() => parseTransferArgs('upload', []), /--bytes N .* or --file/);
    assert.throws(() => parseTransferArgs('upload', ['--bytes', '1', '--file', 'f']), UsageError);
    assert.throws(() => parseTransferArgs('upload', ['--http', '/']), UsageError);
    assert.throws(() => parseTransferArgs('download', ['--file', 'f']), UsageError);
    assert.throws(() => parseTransferArgs('download', ['--http', 'x']), UsageError);
    assert.throws(() => parseTransferArgs('download', ['--http', '/x', '--bytes', '5']), UsageError);
    assert.throws(() => parseTransferArgs('download', ['--v6', '--connect', '10.0.0.1:1']), UsageError);
    assert.throws(() => parseTransferArgs('download', ['--timeout', '0']), UsageError);
  });

  for (const cmd of ['download', 'upload']) {
    test(`netstack ${cmd} --help and a usage error`, () => {
      const r = spawnSync(process.execPath, [cli, cmd, '--help'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0);
      for (const o of ['--connect', '--v6', '--bytes', '--json', '--timeout', '--dev', '--netns', '--pcap', cmd === 'download' ? '--http' : '--file']) {
        assert.ok(r.stdout.includes(o), `${cmd} --help misses ${o}`);
      }
      const bad = spawnSync(process.execPath, [cli, cmd, '--bytes', 'lots'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /^netstack \w+: --bytes: 'lots' is not a byte count/);
    });
  }
});

describe('chargen pattern', () => {
  test('RFC 864 lines: 72 characters rotating through the 95 printable ones, CR LF', () => {
    const src = new ChargenSource();
    const text = Buffer.concat([src.next(5000), src.next(5000), src.next(100)]).toString('latin1');
    const lines = text.split('\r\n');
    assert.equal(lines[0], ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg');
    assert.equal(lines[1], '!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh');
    assert.equal(lines[94]!.charCodeAt(0), 126);
    assert.equal(lines[95]!.charCodeAt(0), 32, 'the pattern repeats after 95 lines');
    for (const l of lines.slice(0, -1)) assert.equal(l.length, 72);
    assert.equal(CHARGEN_PERIOD, 7030);
  });

  test('chunks are contiguous whatever their sizes, and chargenSha256 agrees', () => {
    const a = new ChargenSource();
    const b = new ChargenSource();
    const x = Buffer.concat(Array.from({ length: 50 }, (_, i) => a.next(1 + ((i * 7919) % 70000))));
    const y = Buffer.concat(Array.from({ length: Math.ceil(x.length / 65536) }, () => b.next(65536))).subarray(0, x.length);
    assert.ok(x.equals(y));
    assert.equal(chargenSha256(x.length), createHash('sha256').update(x).digest('hex'));
  });
});

describe('progress line', () => {
  test('with and without a total', () => {
    assert.equal(Progress.line('download', 52 * 2 ** 20, 100 * 2 ** 20, 1), `download [############------------]    52.0 MiB / 100.0 MiB  52%   436.2 Mbit/s`);
    assert.match(Progress.line('download', 3 * 2 ** 30, undefined, 10), /^download +3\.0 GiB +2\.58 Gbit\/s$/);
  });
});
