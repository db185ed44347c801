/**
 * Kernel-side bulk TCP peers and a bounded `netstack` runner, shared by the device tests that
 * move data between the kernel and the stack (tcp-transfer, offload).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { waitExit, waitForLine, type Netns } from './netns.js';
import { cli } from './host.js';

/**
 * Kernel-side sender: accepts one connection (IPv4 or IPv6), sends N bytes of a pattern derived
 * from SEED, half-closes, waits for the peer's close; prints "sent N SHA256".
 */
export const SEND_PY = `
import hashlib, socket, sys
port, n, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
blocks = [hashlib.sha256(b'%d/%d' % (seed, i)).digest() * 8192 for i in range(7)]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', port)); s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
h = hashlib.sha256(); sent = 0; i = 0
while sent < n:
    b = blocks[i % 7]; i += 1
    if n - sent < len(b): b = b[:n - sent]
    c.sendall(b); h.update(b); sent += len(b)
c.shutdown(socket.SHUT_WR)
c.settimeout(60)
try:
    while c.recv(65536): pass
except Exception: pass
c.close()
print('sent %d %s' % (sent, h.hexdigest()), flush=True)
`;

/** Kernel-side receiver: accepts one connection, reads to EOF; prints "received N SHA256". */
export const RECV_PY = `
import hashlib, socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', port)); s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
h = hashlib.sha256(); got = 0
buf = bytearray(1 << 20)
while True:
    k = c.recv_into(buf)
    if k == 0: break
    h.update(memoryview(buf)[:k]); got += k
c.close()
print('received %d %s' % (got, h.hexdigest()), flush=True)
`;

/** `netstack` processes started by runCli and still running. */
const running = new Set<ChildProcess>();

/** Runs `netstack <args>` to completion (bounded), returning status and output. */
export function runCli(args: string[], limitMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => {
      stderr += `\n[test] killed after ${limitMs} ms`;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a python3 server script in `ns` and waits until it listens. */
export async function pyServer(ns: Netns, script: string, args: string[]): Promise<{ child: ChildProcess; result: Promise<string> }> {
  const child = ns.spawn('python3', ['-c', script, ...args]);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitForLine(child, 'listening', 10_000);
  const result = new Promise<string>((resolve) => {
    child.on('exit', (code) => resolve(code === 0 ? out : `${out}\n(exit ${code}) ${err}`));
  });
  return { child, result };
}

/** Kills (by PID) every `netstack` process runCli started that is still running. */
export async function killRunningClis(): Promise<void> {
  for (const c of running) {
    c.kill('SIGKILL');
    await waitExit(c, 5000);
  }
}
