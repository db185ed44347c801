/**
 * Runs the `netstack` command as a child process for device tests (it creates its device inside
 * the test's namespace through --netns) and collects its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { waitForLine, waitExit, type Netns } from './netns.js';

export const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A running `netstack host` (or another long-running command) with its output collected. */
export interface Host {
  child: ChildProcess;
  ready: string;
  stdout(): string;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every host started in this process, so stopAllHosts() can kill them whatever failed. */
const started: Host[] = [];

/** Starts `netstack <command> ...args` and resolves once it printed its `ready` line. */
export async function startHost(args: string[], command = 'host'): Promise<Host> {
  const child = spawn(process.execPath, [cli, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let ready: string;
  try {
    ready = await waitForLine(child, 'ready', 20_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const host: Host = {
    child,
    ready,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await waitExit(child, 10_000);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await waitExit(child, 5000);
        }
      }
      return { code: child.exitCode, signal: child.signalCode };
    },
  };
  started.push(host);
  return host;
}

/** Kills (by PID) every host this process started that is still running. */
export async function stopAllHosts(): Promise<void> {
  for (const h of started.splice(0)) await h.stop('SIGKILL');
}

// ---- kernel-side clients run inside the test namespace ---------------------------------------

/** Sends `count` datagrams of `size` random bytes and checks each echo byte for byte. */
export const UDP_ECHO_PY = `
import os, socket, sys
addr, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((addr, port))
ok = 0
for i in range(count):
    data = os.urandom(size)
    s.send(data)
    got = s.recv(65536)
    if got != data:
        print("mismatch at %d: sent %d bytes, got %d" % (i, len(data), len(got)))
        sys.exit(1)
    ok += 1
print("echoed %d" % ok)
`;

/** A connected UDP socket to a closed port: the ICMP port unreachable surfaces as ECONNREFUSED. */
export const UDP_REFUSED_PY = `
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((addr, port))
s.send(b"anyone there?")
try:
    s.recv(100)
    print("got a reply")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
`;

export function ping(ns: Netns, args: string[]): string {
  const r = ns.run('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', '-w', '15', ...args], { timeoutMs: 30_000 });
  assert.equal(r.status, 0, `ping ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /3 packets transmitted, 3 received/);
  return r.stdout;
}
