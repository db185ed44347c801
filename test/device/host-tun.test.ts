/**
 * `netstack host` over a TUN device, end to end: the command runs as a child process in the main
 * namespace and creates its device inside a fresh namespace (--netns); the kernel's ping and
 * sockets talk to it from inside that namespace. Nothing is sent outside the namespace.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Netns, deviceTestOptions, requireDevice, waitForLine, waitExit } from '../helpers/netns.js';
import { startHost, stopAllHosts, cli, ping, UDP_ECHO_PY, UDP_REFUSED_PY, type Host } from '../helpers/host.js';

describe('netstack host over TUN', { ...deviceTestOptions(), timeout: 180_000 }, () => {
  let ns: Netns | undefined;
  let host: Host | undefined;

  before(async () => {
    requireDevice();
    ns = Netns.create('nshtun');
    host = await startHost(['--netns', ns.name, '--dev', 'tun0']);
  });

  after(async () => {
    await stopAllHosts();
    await ns?.destroy();
  });

  test('prints one ready line with the addresses', () => {
    assert.match(host!.ready, /^ready dev=tun0 .*ip=10\.0\.0\.2 ip6=fd00::2 link-local=fe80::2 udp-echo=8000/);
    assert.equal(host!.stdout().split('\n').filter((l) => l.startsWith('ready')).length, 1);
  });

  test('configured the kernel side', () => {
    const addr = ns!.exec('ip', ['addr', 'show', 'dev', 'tun0']);
    assert.match(addr, /inet 10\.0\.0\.1\/24/);
    assert.match(addr, /inet6 fd00::1\/64/);
    assert.match(addr, /mtu 1500/);
    assert.match(addr, /UP/);
  });

  test('ping 10.0.0.2', () => {
    ping(ns!, ['10.0.0.2']);
  });

  test('ping 10.0.0.2 with 4000-byte payloads (fragmented both ways)', () => {
    ping(ns!, ['-s', '4000', '10.0.0.2']);
  });

  test('ping 10.0.0.2 with 60000-byte payloads', () => {
    ping(ns!, ['-s', '60000', '10.0.0.2']);
  });

  test('ping -6 fd00::2', () => {
    ping(ns!, ['-6', 'fd00::2']);
  });

  test('ping -6 fd00::2 with 4000-byte payloads', () => {
    ping(ns!, ['-6', '-s', '4000', 'fd00::2']);
  });

  test('ping fe80::2%tun0', () => {
    ping(ns!, ['-6', 'fe80::2%tun0']);
  });

  test('ping fe80::2%tun0 with 4000-byte payloads', () => {
    ping(ns!, ['-6', '-s', '4000', 'fe80::2%tun0']);
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

  test('SIGUSR1 prints the counters', async () => {
    const before = host!.stderr().length;
    host!.child.kill('SIGUSR1');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !/netstack counters[\s\S]*\n\S/.test(host!.stderr().slice(before))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const table = host!.stderr().slice(before);
    assert.match(table, /netstack counters, dev tun0/);
    assert.match(table, /^stack$/m);
    // After the pings above, some counter rows carry non-zero values.
    assert.match(table, /^ {2}\S+\s+[1-9]\d*$/m);
    assert.equal(host!.child.exitCode, null, 'still running after SIGUSR1');
  });

  test('SIGTERM stops it cleanly and removes the device', async () => {
    const r = await host!.stop('SIGTERM');
    assert.equal(r.code, 0, `exit ${r.code} ${r.signal}; stderr: ${host!.stderr()}`);
    assert.match(host!.stdout(), /^stopped$/m);
    const link = ns!.run('ip', ['link', 'show', 'dev', 'tun0']);
    assert.notEqual(link.status, 0, 'tun0 still exists');
  });
});

describe('netstack host --no-configure and errors', { ...deviceTestOptions(), timeout: 120_000 }, () => {
  let ns: Netns | undefined;
  let host: Host | undefined;

  before(() => {
    requireDevice();
    ns = Netns.create('nshpre');
  });

  after(async () => {
    await stopAllHosts();
    await ns?.destroy();
  });

  test('attaches to an existing configured device and leaves it in place', async () => {
    ns!.exec('ip', ['tuntap', 'add', 'dev', 'tunpre', 'mode', 'tun']);
    ns!.exec('ip', ['addr', 'add', '10.9.0.1/24', 'dev', 'tunpre']);
    ns!.exec('ip', ['-6', 'addr', 'add', 'fd09::1/64', 'dev', 'tunpre', 'nodad']);
    ns!.exec('ip', ['link', 'set', 'tunpre', 'mtu', '1400', 'up']);
    host = await startHost(['--netns', ns!.name, '--dev', 'tunpre', '--no-configure', '--ip', '10.9.0.2/24', '--host-ip', '10.9.0.1/24', '--ip6', 'fd09::2/64', '--host-ip6', 'fd09::1/64', '--stats', '0.3']);
    assert.match(host.ready, / mtu=1400 /, 'takes the MTU of the existing device');
    ping(ns!, ['10.9.0.2']);
    ping(ns!, ['-6', 'fd09::2']);
    // --stats 0.3: tables keep coming (the pings took over a second). The pings ran
    // synchronously, so give our event loop a moment to read the child's stderr.
    const count = (): number => host!.stderr().split('netstack counters, dev tunpre').length - 1;
    for (let i = 0; i < 40 && count() < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const tables = count();
    assert.ok(tables >= 2, `expected periodic counter tables, got ${tables}: ${host.stderr()}`);
    const r = await host.stop('SIGINT');
    assert.equal(r.code, 0, host.stderr());
    const addr = ns!.exec('ip', ['addr', 'show', 'dev', 'tunpre']);
    assert.match(addr, /inet 10\.9\.0\.1\/24/, 'the device and its configuration are untouched');
    assert.match(addr, /mtu 1400/);
  });

  test('--no-configure without CAP_NET_ADMIN: attaches to a device its user owns', async () => {
    ns!.exec('ip', ['tuntap', 'add', 'dev', 'tunown', 'mode', 'tun', 'user', '0']);
    ns!.exec('ip', ['addr', 'add', '10.8.0.1/24', 'dev', 'tunown']);
    ns!.exec('ip', ['link', 'set', 'tunown', 'up']);
    // The process keeps uid 0 (the device's owner) but has no capabilities at all.
    const child = ns!.spawn('setpriv', ['--inh-caps=-all', '--bounding-set=-all', process.execPath, cli, 'host', '--dev', 'tunown', '--no-configure', '--ip', '10.8.0.2/24', '--host-ip', '10.8.0.1/24']);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitForLine(child, 'ready', 20_000);
    ping(ns!, ['10.8.0.2']);
    child.kill('SIGTERM');
    await waitExit(child, 10_000);
    assert.equal(child.exitCode, 0, err);
    assert.equal(ns!.run('ip', ['link', 'show', 'dev', 'tunown']).status, 0, 'the device stays');
  });

  test('netstack udp-echo --port: the echo service on another port, both families', async () => {
    host = await startHost(['--netns', ns!.name, '--dev', 'tunecho', '--port', '9000'], 'udp-echo');
    assert.match(host.ready, /udp-echo=9000/);
    for (const addr of ['10.0.0.2', 'fd00::2']) {
      const out = ns!.exec('python3', ['-c', UDP_ECHO_PY, addr, '9000', '20', '1300'], { timeoutMs: 60_000 });
      assert.match(out, /echoed 20/);
    }
    const refused = ns!.exec('python3', ['-c', UDP_REFUSED_PY, '10.0.0.2', '8000'], { timeoutMs: 30_000 });
    assert.equal(refused.trim(), 'refused', 'only the given port echoes');
    const r = await host.stop('SIGTERM');
    assert.equal(r.code, 0, host.stderr());
    assert.notEqual(ns!.run('ip', ['link', 'show', 'dev', 'tunecho']).status, 0, 'tunecho removed');
  });

  test('the device deleted under it: one error line, exit 1', async () => {
    host = await startHost(['--netns', ns!.name, '--dev', 'tungone']);
    ns!.exec('ip', ['link', 'del', 'dev', 'tungone']);
    await waitExit(host.child, 10_000);
    assert.equal(host.child.exitCode, 1, `exit ${host.child.exitCode} ${host.child.signalCode}; stderr: ${host.stderr()}`);
    assert.match(host.stderr(), /^netstack: reading tungone failed: .*$/m);
    assert.doesNotMatch(host.stderr(), /\bat .*\.js:\d+/, 'no stack trace');
  });

  test('--no-configure on a missing device: one error line, exit 1', () => {
    const r = spawnSync(process.execPath, [cli, 'host', '--netns', ns!.name, '--dev', 'nosuchdev', '--no-configure'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^netstack: /);
    assert.equal(ns!.run('ip', ['link', 'show', 'dev', 'nosuchdev']).status === 0, false, 'no device was created');
  });

  test('without privileges: one error line naming the remedy, exit 1, no stack trace', () => {
    // Run the command with no capabilities at all (as uid 0, so it can still read the project's
    // files wherever the clone is). Creating a device then fails with EPERM before anything is made.
    const r = spawnSync('setpriv', ['--inh-caps=-all', '--bounding-set=-all', process.execPath, cli, 'host', '--dev', 'tunnopriv'], { encoding: 'utf8', timeout: 20_000 });
    if (r.error || /setpriv: /.test(r.stderr)) {
      assert.fail(`setpriv could not drop privileges: ${r.error?.message ?? r.stderr}`);
    }
    assert.equal(r.status, 1, `status ${r.status}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^netstack: .*EPERM.*CAP_NET_ADMIN/);
    assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
  });
});
