/**
 * `netstack host --pcap FILE`: the frames the stack sees and sends are written to a pcap file
 * that tcpdump reads back, for TUN (raw IP link type) and TAP (Ethernet). The file must be
 * complete after a SIGTERM (flushed on shutdown).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, deviceTestOptions, requireDevice } from '../helpers/netns.js';
import { startHost, stopAllHosts, type Host } from '../helpers/host.js';


function ping(ns: Netns, args: string[]): void {
  const r = ns.run('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '2', '-w', '10', ...args], { timeoutMs: 30_000 });
  assert.equal(r.status, 0, `ping ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
}

/** tcpdump's reading of `file`, run inside the namespace (reading a file sends nothing). */
function readPcap(ns: Netns, file: string): string {
  const r = ns.run('tcpdump', ['-r', file, '-n', '-e'], { timeoutMs: 30_000 });
  assert.equal(r.status, 0, `tcpdump -r failed: ${r.stderr}`);
  return r.stdout;
}

describe('netstack host --pcap', { ...deviceTestOptions(), timeout: 180_000 }, () => {
  let ns: Netns | undefined;
  let host: Host | undefined;
  let dir: string | undefined;

  before(() => {
    requireDevice();
    ns = Netns.create('nspcap');
    dir = mkdtempSync(join(tmpdir(), 'netstack-pcap-'));
  });

  after(async () => {
    await stopAllHosts();
    await ns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('TUN: the echo requests and replies of a ping, IPv4 and IPv6', async () => {
    const file = join(dir!, 'tun.pcap');
    host = await startHost(['--netns', ns!.name, '--dev', 'ptun0', '--pcap', file]);
    assert.match(host.ready, /pcap=/);
    ping(ns!, ['10.0.0.2']);
    ping(ns!, ['-6', 'fd00::2']);
    const r = await host.stop('SIGTERM');
    assert.equal(r.code, 0, host.stderr());
    assert.ok(statSync(file).size > 24, 'more than the pcap file header');
    const text = readPcap(ns!, file);
    assert.match(text, /10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request/);
    assert.match(text, /10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply/);
    assert.match(text, /fd00::1 > fd00::2: ICMP6, echo request/);
    assert.match(text, /fd00::2 > fd00::1: ICMP6, echo reply/);
    const requests = text.split('\n').filter((l) => /10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request/.test(l)).length;
    assert.equal(requests, 2, text);
  });

  test('TAP: ARP, and the echo request and reply with Ethernet headers', async () => {
    const file = join(dir!, 'tap.pcap');
    host = await startHost(['--netns', ns!.name, '--tap', '--dev', 'ptap0', '--mac', '02:00:00:00:00:77', '--pcap', file]);
    ping(ns!, ['10.0.0.2']);
    const r = await host.stop('SIGTERM');
    assert.equal(r.code, 0, host.stderr());
    const text = readPcap(ns!, file);
    assert.match(text, /ARP .*Request who-has 10\.0\.0\.2 tell 10\.0\.0\.1/);
    assert.match(text, /ARP .*Reply 10\.0\.0\.2 is-at 02:00:00:00:00:77/);
    assert.match(text, /02:00:00:00:00:77 > .*10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply/);
    assert.match(text, /> 02:00:00:00:00:77, .*10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request/);
  });
});
