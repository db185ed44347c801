/**
 * `netstack host --tap` end to end: an Ethernet link, so the kernel finds the stack by ARP
 * (IPv4) and NDP (IPv6). The command runs in the main namespace and creates its device inside a
 * fresh namespace (--netns). Nothing is sent outside the namespace.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Netns, deviceTestOptions, requireDevice } from '../helpers/netns.js';
import { startHost, stopAllHosts, ping, UDP_ECHO_PY, UDP_REFUSED_PY, type Host } from '../helpers/host.js';

const MAC = '02:00:00:00:00:42';

describe('netstack host over TAP', { ...deviceTestOptions(), timeout: 180_000 }, () => {
  let ns: Netns | undefined;
  let host: Host | undefined;

  before(async () => {
    requireDevice();
    ns = Netns.create('nshtap');
    host = await startHost(['--netns', ns.name, '--tap', '--dev', 'tap0', '--mac', MAC]);
  });

  after(async () => {
    await stopAllHosts();
    await ns?.destroy();
  });

  test('prints one ready line with the MAC', () => {
    assert.match(host!.ready, /^ready dev=tap0 mode=tap ip=10\.0\.0\.2 ip6=fd00::2 link-local=fe80::2 udp-echo=8000/);
    assert.match(host!.ready, new RegExp(`mac=${MAC}`));
  });

  test('the device is a TAP (Ethernet) device, up, with the addresses', () => {
    const addr = ns!.exec('ip', ['addr', 'show', 'dev', 'tap0']);
    assert.match(addr, /link\/ether/);
    assert.match(addr, /inet 10\.0\.0\.1\/24/);
    assert.match(addr, /inet6 fd00::1\/64/);
    assert.doesNotMatch(addr, new RegExp(MAC), 'the kernel side has its own MAC, not the stack\'s');
  });

  test('ping 10.0.0.2 (resolved by ARP)', () => {
    ping(ns!, ['10.0.0.2']);
    const neigh = ns!.exec('ip', ['-4', 'neigh', 'show', 'dev', 'tap0']);
    assert.match(neigh, new RegExp(`10\\.0\\.0\\.2 lladdr ${MAC}`), neigh);
  });

  test('ping 10.0.0.2 with 4000-byte payloads', () => {
    ping(ns!, ['-s', '4000', '10.0.0.2']);
  });

  test('ping 10.0.0.2 with 60000-byte payloads', () => {
    ping(ns!, ['-s', '60000', '10.0.0.2']);
  });

  test('ping -6 fd00::2 (resolved by NDP)', () => {
    ping(ns!, ['-6', 'fd00::2']);
    const neigh = ns!.exec('ip', ['-6', 'neigh', 'show', 'dev', 'tap0']);
    assert.match(neigh, new RegExp(`fd00::2 lladdr ${MAC}`), neigh);
  });

  test('ping -6 fd00::2 with 4000-byte payloads', () => {
    ping(ns!, ['-6', '-s', '4000', 'fd00::2']);
  });

  test('ping fe80::2%tap0', () => {
    ping(ns!, ['-6', 'fe80::2%tap0']);
    const neigh = ns!.exec('ip', ['-6', 'neigh', 'show', 'dev', 'tap0']);
    assert.match(neigh, new RegExp(`fe80::2 lladdr ${MAC}`), neigh);
  });

  for (const addr of ['10.0.0.2', 'fd00::2']) {
    test(`UDP echo of 20 datagrams of 1300 bytes to ${addr}`, () => {
      const out = ns!.exec('python3', ['-c', UDP_ECHO_PY, addr, '8000', '20', '1300'], { timeoutMs: 60_000 });
      assert.match(out, /echoed 20/);
    });

    test(`ICMP port unreachable for a closed UDP port on ${addr}`, () => {
      const out = ns!.exec('python3', ['-c', UDP_REFUSED_PY, addr, '9'], { timeoutMs: 30_000 });
      assert.equal(out.trim(), 'refused');
    });
  }

  test('SIGTERM stops it cleanly and removes the device', async () => {
    const r = await host!.stop('SIGTERM');
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}; stderr: ${host!.stderr()}`);
    const link = ns!.run('ip', ['link', 'show', 'dev', 'tap0']);
    assert.notEqual(link.status, 0, 'tap0 still exists');
  });
});
