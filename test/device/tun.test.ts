/**
 * TUN/TAP devices through the native addon, each test inside its own network namespace (every
 * device is created with the `netns` option: nothing touches the main namespace).
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { Netns, deviceTestOptions, requireDevice, waitExit } from '../helpers/netns.js';
import { openTun, configureDevice, deleteDevice, ifIndex, linkInfo, parseVnetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../../src/node/tun.js';
import { checksum, finish, pseudoHeaderSumV4, sumBytes } from '../../src/wire/checksum.js';
import { read16, read32, write16 } from '../../src/wire/bytes.js';
import type { LinkReceiver } from '../../src/link/link.js';
import { PcapRecorder } from '../../src/link/pcap.js';
import { PcapFileSink } from '../../src/node/pcap-file.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function withNs(fn: (ns: Netns) => Promise<void> | void): Promise<void> {
  const ns = Netns.create('tuntest');
  try {
    await fn(ns);
  } finally {
    await ns.destroy();
  }
}

/** Runs a command in the namespace without blocking the event loop (the link must keep reading). */
async function runAsync(ns: Netns, cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number | null; stdout: string }> {
  const child = ns.spawn(cmd, args);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.resume();
  await waitExit(child, timeoutMs);
  return { code: child.exitCode, stdout };
}

function sysctl(ns: Netns, setting: string): void {
  ns.exec('sysctl', ['-q', '-w', setting]);
}

/** Kernel side of a TUN device: IPv4 only (no IPv6 background chatter), no reverse-path filter. */
function setUpKernelSide(ns: Netns, dev: string, cidr: string): void {
  sysctl(ns, `net.ipv6.conf.${dev}.disable_ipv6=1`);
  sysctl(ns, `net.ipv4.conf.${dev}.rp_filter=0`);
  sysctl(ns, 'net.ipv4.conf.all.rp_filter=0');
  configureDevice(dev, { addresses: [cidr], up: true, netns: ns.name });
}

class Collect implements LinkReceiver {
  frames: Uint8Array[] = [];
  flushes = 0;
  constructor(private readonly onFrame?: (f: Uint8Array) => void) {}
  receive(frame: Uint8Array): void {
    this.frames.push(frame.slice()); // valid only until flush: keep a copy
    this.onFrame?.(frame);
  }
  flush(): void {
    this.flushes++;
  }
}

const isEchoRequestV4 = (f: Uint8Array, off = 0): boolean =>
  f.length >= off + 28 && f[off]! >> 4 === 4 && f[off + 9] === 1 && f[off + ((f[off]! & 0x0f) * 4)] === 8;

const ip4 = (s: string): number => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);

/** An ICMPv4 echo reply for `req` (an IPv4 echo request), built by hand. */
function echoReply(req: Uint8Array): Uint8Array {
  const r = req.slice();
  const ihl = (r[0]! & 0x0f) * 4;
  r.set(req.subarray(16, 20), 12); // swap source and destination
  r.set(req.subarray(12, 16), 16);
  r[8] = 64; // TTL
  write16(r, 10, 0);
  write16(r, 10, checksum(r, 0, ihl));
  const end = read16(r, 2);
  r[ihl] = 0; // echo reply
  write16(r, ihl + 2, 0);
  write16(r, ihl + 2, checksum(r, ihl, end));
  return r;
}

describe('TUN/TAP devices', deviceTestOptions(), () => {
  before(() => requireDevice());

  test('TUN: echo requests from ping arrive; hand-made replies make ping succeed', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'tun0', netns: ns.name });
      try {
        assert.equal(link.kind, 'ip');
        assert.equal(link.name, 'tun0');
        assert.equal(link.mtu, 1500);
        assert.equal(link.mac, undefined);
        assert.equal(link.ifindex, ifIndex('tun0', ns.name));
        setUpKernelSide(ns, 'tun0', '10.0.0.1/24');

        // 1. No replies: the requests arrive, ping fails.
        const rx = new Collect();
        link.attach(rx);
        const first = await runAsync(ns, 'ping', ['-c', '2', '-W', '1', '10.0.0.2']);
        assert.notEqual(first.code, 0, 'nobody answered');
        const requests = rx.frames.filter((f) => isEchoRequestV4(f));
        assert.equal(requests.length, 2, `frames: ${rx.frames.map((f) => Buffer.from(f).toString('hex')).join(' ')}`);
        const req = requests[0]!;
        assert.equal(req[0], 0x45, 'IPv4, 20-byte header');
        assert.equal(read16(req, 2), req.length, 'total length = frame length (no PI header)');
        assert.equal(req[9], 1, 'protocol ICMP');
        assert.equal(read32(req, 12), ip4('10.0.0.1'));
        assert.equal(read32(req, 16), ip4('10.0.0.2'));
        assert.equal(checksum(req, 0, 20), 0, 'valid header checksum');
        assert.ok(rx.flushes >= 1 && rx.flushes <= rx.frames.length);
        assert.ok(link.stats.rxPackets >= 2 && link.stats.rxBytes >= 2 * req.length);

        // 2. Reply to each request: ping succeeds.
        link.attach(
          new Collect((f) => {
            if (isEchoRequestV4(f)) link.send(echoReply(f));
          }),
        );
        const second = await runAsync(ns, 'ping', ['-c', '2', '-W', '1', '10.0.0.2']);
        assert.equal(second.code, 0, second.stdout);
        assert.match(second.stdout, /2 received/);
        assert.equal(link.stats.txPackets, 2);
        assert.equal(link.stats.txDrops + link.stats.txErrors, 0);
      } finally {
        await link.close();
        await link.close(); // idempotent
      }
    });
  });

  test('TUN: sends within one turn are written as one batch', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'tun0', netns: ns.name });
      try {
        setUpKernelSide(ns, 'tun0', '10.0.0.1/24');
        link.attach(new Collect());
        const reqs: Uint8Array[] = [];
        for (let seq = 0; seq < 10; seq++) {
          // Echo requests to the kernel (10.0.0.2 -> 10.0.0.1): it answers each.
          const p = new Uint8Array(28);
          p[0] = 0x45;
          write16(p, 2, 28);
          p[8] = 64;
          p[9] = 1;
          p.set([10, 0, 0, 2, 10, 0, 0, 1], 12);
          write16(p, 10, checksum(p, 0, 20));
          p[20] = 8;
          write16(p, 24, 0x1234);
          write16(p, 26, seq);
          write16(p, 22, checksum(p, 20, 28));
          reqs.push(p);
        }
        const replies = new Collect();
        link.attach(replies);
        for (const p of reqs) link.send(p);
        assert.equal(link.stats.txPackets, 0, 'nothing written synchronously');
        await Promise.resolve();
        assert.equal(link.stats.txPackets, 10, 'written at the end of the microtask turn');
        const deadline = Date.now() + 3000;
        while (replies.frames.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        const echoReplies = replies.frames.filter((f) => f[9] === 1 && f[20] === 0);
        assert.equal(echoReplies.length, 10);
        assert.deepEqual(
          echoReplies.map((f) => read16(f, 26)).sort((a, b) => a - b),
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
      } finally {
        await link.close();
      }
    });
  });

  test('a throwing receiver is counted; the receive path never throws out', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'tun0', netns: ns.name });
      try {
        setUpKernelSide(ns, 'tun0', '10.0.0.1/24');
        let flushes = 0;
        link.attach({
          receive: () => {
            throw new Error('receiver bug');
          },
          flush: () => {
            flushes++;
            throw new Error('flush bug');
          },
        });
        await runAsync(ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '10.0.0.2']);
        assert.ok(link.stats.rxPackets >= 2);
        assert.ok(flushes >= 1, 'flush is still called after receive threw');
        assert.equal(link.stats.receiverErrors, link.stats.rxPackets + flushes);
        assert.match(String(link.lastReceiverError), /bug/);
      } finally {
        await link.close();
      }
    });
  });

  test('pause stops delivery, resume restarts it', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'tun0', netns: ns.name });
      try {
        setUpKernelSide(ns, 'tun0', '10.0.0.1/24');
        const rx = new Collect();
        link.attach(rx);
        link.pause();
        await runAsync(ns, 'ping', ['-c', '1', '-W', '1', '10.0.0.2']);
        assert.equal(rx.frames.length, 0, 'nothing delivered while paused');
        link.resume();
        const deadline = Date.now() + 2000;
        while (rx.frames.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.ok(rx.frames.some((f) => isEchoRequestV4(f)), 'the packet queued in the kernel arrives after resume');
      } finally {
        await link.close();
      }
    });
  });

  test('pcap recording of a TUN link reads back with tcpdump', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netstack-tun-pcap-'));
    try {
      await withNs(async (ns) => {
        const file = join(dir, 'tun0.pcap');
        const tun = openTun({ name: 'tun0', netns: ns.name });
        const link = new PcapRecorder(tun, new PcapFileSink(file), () => Date.now());
        try {
          setUpKernelSide(ns, 'tun0', '10.0.0.1/24');
          link.attach(
            new Collect((f) => {
              if (isEchoRequestV4(f)) link.send(echoReply(f));
            }),
          );
          const r = await runAsync(ns, 'ping', ['-c', '1', '-W', '1', '10.0.0.2']);
          assert.equal(r.code, 0, r.stdout);
        } finally {
          await link.close();
        }
        assert.equal(tun.isClosed, true, 'closing the recorder closes the link');
        const text = execFileSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        assert.match(text, /10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request/);
        assert.match(text, /10\.0\.0\.2 > 10\.0\.0\.1: ICMP echo reply/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('IPv6 address without DAD: usable at once', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'tun0', netns: ns.name });
      try {
        configureDevice('tun0', { addresses: ['fd00::1/64', '10.0.0.1/24'], up: true, netns: ns.name });
        configureDevice('tun0', { addresses: ['fd00::1/64'], netns: ns.name }); // adding again is no error
        const addrs = ns.exec('ip', ['-6', 'addr', 'show', 'dev', 'tun0']);
        assert.match(addrs, /inet6 fd00::1\/64 scope global nodad/);
        assert.doesNotMatch(addrs, /fd00::1\/64.*tentative/);
        assert.match(ns.exec('ip', ['-4', 'addr', 'show', 'dev', 'tun0']), /inet 10\.0\.0\.1\/24/);
        const rx = new Collect();
        link.attach(rx);
        await runAsync(ns, 'ping', ['-6', '-c', '1', '-W', '1', 'fd00::2']);
        const req = rx.frames.find((f) => f[0]! >> 4 === 6 && f[6] === 58 && f[40] === 128);
        assert.ok(req, 'an ICMPv6 echo request from fd00::1');
        assert.deepEqual([...req.subarray(8, 24)], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
      } finally {
        await link.close();
      }
    });
  });

  test('TAP: the kernel ARP request arrives from the configured MAC', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'tap0', tap: true, netns: ns.name });
      try {
        assert.equal(link.kind, 'ethernet');
        assert.deepEqual([...link.mac!], [2, 0, 0, 0, 0, 2], 'the stack side default MAC');
        assert.equal(link.deviceMac?.length, 6);
        const kernelMac = Uint8Array.of(0x02, 0x11, 0x22, 0x33, 0x44, 0x55);
        configureDevice('tap0', { mac: kernelMac, mtu: 1400, netns: ns.name });
        assert.deepEqual([...linkInfo('tap0', ns.name)!.mac!], [...kernelMac]);
        assert.equal(linkInfo('tap0', ns.name)!.mtu, 1400);
        setUpKernelSide(ns, 'tap0', '10.0.1.1/24');
        const rx = new Collect();
        link.attach(rx);
        await runAsync(ns, 'ping', ['-c', '1', '-W', '1', '10.0.1.2']);
        const arp = rx.frames.find((f) => f.length >= 42 && read16(f, 12) === 0x0806);
        assert.ok(arp, 'an ARP frame arrived');
        assert.deepEqual([...arp.subarray(0, 6)], [255, 255, 255, 255, 255, 255], 'broadcast');
        assert.deepEqual([...arp.subarray(6, 12)], [...kernelMac], 'from the kernel side MAC');
        assert.equal(read16(arp, 14 + 6), 1, 'ARP request');
        assert.equal(read32(arp, 14 + 14), ip4('10.0.1.1'), 'sender IP');
        assert.equal(read32(arp, 14 + 24), ip4('10.0.1.2'), 'target IP');
      } finally {
        await link.close();
      }
    });
  });

  test('name validation errors carry code EINVAL', async () => {
    await withNs((ns) => {
      for (const name of ['', 'x'.repeat(16), 'a\0b', 'a/b', 'a b', 'tun%d%d']) {
        assert.throws(() => openTun({ name, netns: ns.name }), (e: NodeJS.ErrnoException) => {
          assert.equal(e.code, 'EINVAL', `${JSON.stringify(name)}: ${e.message}`);
          assert.match(e.message, /invalid interface name/);
          return true;
        });
      }
      assert.throws(() => openTun({ name: 'tun0', netns: 'no-such-netns-xyz' }), { code: 'ENOENT', message: /ip netns add/ });
      assert.throws(() => openTun({ name: 'tun0', offloads: { csum: true }, netns: ns.name }), { code: 'EINVAL', message: /vnetHdr/ });
    });
  });

  test('kernel-chosen names from a template', async () => {
    await withNs(async (ns) => {
      const a = openTun({ netns: ns.name });
      const b = openTun({ name: 'nst%d', netns: ns.name });
      try {
        assert.match(a.name, /^tun\d+$/);
        assert.equal(b.name, 'nst0');
        assert.equal(ifIndex(b.name, ns.name), b.ifindex);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  test('EBUSY: exclusive create of an existing device, second open of a single-queue device', async () => {
    await withNs(async (ns) => {
      const first = openTun({ name: 'tun0', exclusive: true, netns: ns.name });
      try {
        assert.throws(() => openTun({ name: 'tun0', exclusive: true, netns: ns.name }), (e: NodeJS.ErrnoException) => {
          assert.equal(e.code, 'EBUSY');
          assert.match(e.message, /already exists/);
          return true;
        });
        assert.throws(() => openTun({ name: 'tun0', netns: ns.name }), (e: NodeJS.ErrnoException) => {
          assert.equal(e.code, 'EBUSY');
          assert.match(e.message, /in use/);
          return true;
        });
      } finally {
        await first.close();
      }
      // Not persistent: closing deleted it, so an exclusive create works again.
      assert.equal(linkInfo('tun0', ns.name), null);
      const again = openTun({ name: 'tun0', exclusive: true, netns: ns.name });
      await again.close();
    });
  });

  test('persistent create, attach, delete', async () => {
    await withNs(async (ns) => {
      assert.throws(() => openTun({ name: 'ptun0', attach: true, netns: ns.name }), { code: 'ENODEV', message: /ip tuntap add/ });
      const created = openTun({ name: 'ptun0', persist: true, netns: ns.name });
      await created.close();
      assert.notEqual(linkInfo('ptun0', ns.name), null, 'survives close');
      assert.match(ns.exec('ip', ['-d', 'link', 'show', 'ptun0']), /persist on/);

      const attached = openTun({ name: 'ptun0', attach: true, netns: ns.name });
      try {
        setUpKernelSide(ns, 'ptun0', '10.0.3.1/24');
        const rx = new Collect();
        attached.attach(rx);
        await runAsync(ns, 'ping', ['-c', '1', '-W', '1', '10.0.3.2']);
        assert.ok(rx.frames.some((f) => isEchoRequestV4(f)), 'the attached fd receives');
      } finally {
        await attached.close();
      }
      deleteDevice('ptun0', ns.name);
      assert.equal(linkInfo('ptun0', ns.name), null);
      assert.throws(() => deleteDevice('ptun0', ns.name), { code: 'ENODEV' });
      assert.throws(() => ifIndex('ptun0', ns.name), { code: 'ENODEV' });

      // setPersist(false) then close() removes a persistent device too (like `ip tuntap del`).
      const p1 = openTun({ name: 'ptun1', persist: true, netns: ns.name });
      p1.setPersist(false);
      await p1.close();
      assert.equal(linkInfo('ptun1', ns.name), null);
    });
  });

  test('without CAP_NET_ADMIN: create fails with EPERM and a remedy; attaching to an owned device works', async () => {
    await withNs(async (ns) => {
      // What `sudo ip tuntap add dev utun0 mode tun user $USER` does, for uid 0 here: the owner
      // may attach without privileges.
      ns.exec('ip', ['tuntap', 'add', 'dev', 'utun0', 'mode', 'tun', 'user', String(process.getuid!())]);
      const tunJs = new URL('../../src/node/tun.js', import.meta.url).href;
      const script = `
        import { openTun } from ${JSON.stringify(tunJs)};
        const out = {};
        try { openTun({ name: 'other0' }); out.create = 'ok'; } catch (e) { out.create = e.code; out.createMessage = e.message; }
        const l = openTun({ name: 'utun0', attach: true });
        out.attached = l.name;
        await l.close();
        try { openTun({ name: 'utun0', netns: ${JSON.stringify(ns.name)} }); } catch (e) { out.netns = e.code; }
        console.log(JSON.stringify(out));`;
      const r = await runAsync(ns, 'setpriv', [
        '--inh-caps=-all',
        '--bounding-set=-net_admin,-sys_admin',
        process.execPath,
        '--input-type=module',
        '-e',
        script,
      ]);
      assert.equal(r.code, 0, r.stdout);
      const out = JSON.parse(r.stdout) as Record<string, string>;
      assert.equal(out.create, 'EPERM');
      assert.match(out.createMessage!, /CAP_NET_ADMIN/);
      assert.match(out.createMessage!, /ip tuntap add dev other0 mode tun user/);
      assert.equal(out.attached, 'utun0');
      assert.equal(out.netns, 'EPERM', 'entering a namespace needs CAP_SYS_ADMIN');
    });
  });

  test('a device deleted under a reading link reports an error, reading stops', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'tun0', netns: ns.name });
      try {
        const err = new Promise<NodeJS.ErrnoException>((resolve) => (link.onError = resolve));
        link.attach(new Collect());
        deleteDevice('tun0', ns.name);
        const e = await err;
        assert.equal(e.code, 'EBADFD');
        assert.equal(link.stats.rxErrors, 1);
      } finally {
        await link.close();
      }
    });
  });

  test('vnetHdr with offloads: headers on reads, offloads reset on close', async () => {
    await withNs(async (ns) => {
      const sendUdp = (): Promise<{ code: number | null }> =>
        runAsync(ns, process.execPath, [
          '-e',
          "const s=require('dgram').createSocket('udp4');s.send(Buffer.from('hello'),9999,'10.0.4.2',()=>s.close())",
        ]);
      const all = { csum: true, tso4: true, tso6: true, tsoEcn: true, uso4: true, uso6: true };
      const link = openTun({ name: 'vtun0', persist: true, vnetHdr: true, keepVnetHdr: true, offloads: all, netns: ns.name });
      try {
        assert.equal(link.vnetHdrSize, 10);
        assert.equal(link.offloadFlags, 0x6f);
        assert.match(ns.exec('ip', ['-d', 'link', 'show', 'vtun0']), /vnet_hdr on/);
        setUpKernelSide(ns, 'vtun0', '10.0.4.1/24');
        const rx = new Collect();
        link.attach(rx);
        assert.equal((await sendUdp()).code, 0);
        await new Promise((r) => setTimeout(r, 50));
        const udp = rx.frames.find((f) => f[10] === 0x45 && f[10 + 9] === 17);
        assert.ok(udp, 'a UDP datagram after a 10-byte virtio_net_hdr');
        const h = parseVnetHdr(udp);
        assert.equal(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM, 'checksum left to us (CSUM offload)');
        assert.equal(h.csumStart, 20);
        assert.equal(h.csumOffset, 6);
      } finally {
        await link.close();
      }

      // Reopen the persistent device WITHOUT a vnet header: had the offloads survived close,
      // the kernel would hand us a partial checksum with no header to say so.
      const plain = openTun({ name: 'vtun0', attach: true, netns: ns.name });
      try {
        const rx = new Collect();
        plain.attach(rx);
        assert.equal((await sendUdp()).code, 0);
        await new Promise((r) => setTimeout(r, 50));
        const udp = rx.frames.find((f) => f[0] === 0x45 && f[9] === 17);
        assert.ok(udp, 'a UDP datagram, no header in front');
        const len = read16(udp, 2) - 20;
        const sum = sumBytes(udp, 20, 20 + len, pseudoHeaderSumV4(read32(udp, 12), read32(udp, 16), 17, len));
        assert.equal(finish(sum), 0, 'complete UDP checksum: offloads were reset');
      } finally {
        plain.setPersist(false);
        await plain.close();
      }
    });
  });

  test('offloads are reset even when the process calls process.exit() without close()', async () => {
    await withNs(async (ns) => {
      const tunJs = new URL('../../src/node/tun.js', import.meta.url).href;
      const script = `
        import { openTun } from ${JSON.stringify(tunJs)};
        const l = openTun({ name: 'vtun2', persist: true, vnetHdr: true, offloads: { csum: true }, netns: ${JSON.stringify(ns.name)} });
        l.attach({ receive() {}, flush() {} });
        setTimeout(() => process.exit(0), 20);`;
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit', timeout: 10_000 });
      assert.notEqual(linkInfo('vtun2', ns.name), null, 'the persistent device survived its process');
      const link = openTun({ name: 'vtun2', attach: true, netns: ns.name });
      try {
        setUpKernelSide(ns, 'vtun2', '10.0.7.1/24');
        const rx = new Collect();
        link.attach(rx);
        const sent = await runAsync(ns, process.execPath, [
          '-e',
          "const s=require('dgram').createSocket('udp4');s.send(Buffer.from('hello'),9999,'10.0.7.2',()=>s.close())",
        ]);
        assert.equal(sent.code, 0);
        await new Promise((r) => setTimeout(r, 50));
        const udp = rx.frames.find((f) => f[0] === 0x45 && f[9] === 17);
        assert.ok(udp);
        const len = read16(udp, 2) - 20;
        const sum = sumBytes(udp, 20, 20 + len, pseudoHeaderSumV4(read32(udp, 12), read32(udp, 16), 17, len));
        assert.equal(finish(sum), 0, 'complete UDP checksum: the exiting process reset the offloads');
      } finally {
        link.setPersist(false);
        await link.close();
      }
    });
  });

  test('vnetHdrSize 12: reads start with a 12-byte header', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'vtun1', vnetHdr: true, vnetHdrSize: 12, keepVnetHdr: true, netns: ns.name });
      try {
        setUpKernelSide(ns, 'vtun1', '10.0.5.1/24');
        const rx = new Collect();
        link.attach(rx);
        await runAsync(ns, 'ping', ['-c', '1', '-W', '1', '10.0.5.2']);
        const req = rx.frames.find((f) => isEchoRequestV4(f, 12));
        assert.ok(req, 'an echo request after 12 header bytes');
        assert.equal(req.length, 12 + 84);
        assert.deepEqual([...req.subarray(0, 10)], new Array(10).fill(0), 'no offloads: an empty header');
      } finally {
        await link.close();
      }
    });
  });

  test('multi-queue: two queues on one device, traffic arrives', async () => {
    await withNs(async (ns) => {
      const link = openTun({ name: 'mq0', multiQueue: 2, netns: ns.name });
      try {
        assert.equal(link.queueCount, 2);
        assert.match(ns.exec('ip', ['-d', 'link', 'show', 'mq0']), /multi_queue/);
        setUpKernelSide(ns, 'mq0', '10.0.6.1/24');
        const rx = new Collect((f) => {
          if (isEchoRequestV4(f)) link.send(echoReply(f));
        });
        link.attach(rx);
        const r = await runAsync(ns, 'ping', ['-c', '2', '-W', '1', '10.0.6.2']);
        assert.equal(r.code, 0, r.stdout);
      } finally {
        await link.close();
      }
      assert.equal(linkInfo('mq0', ns.name), null, 'all queues closed: the device is gone');
    });
  });
});

