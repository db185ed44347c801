/**
 * Network namespaces for device tests. Every device test creates its own namespace, runs the
 * stack and the kernel-side tools inside it, and deletes it afterwards: no packet leaves it and
 * nothing in the main namespace is touched.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, accessSync, constants } from 'node:fs';

let counter = 0;

/** Why device tests cannot run here, or null when they can. */
export function deviceTestsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (load the tun module)';
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return 'no read/write access to /dev/net/tun (run as root)';
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'not root: device tests create network namespaces and need CAP_SYS_ADMIN and CAP_NET_ADMIN';
  }
  for (const tool of ['ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `'${tool}' is not installed (npm test installs it when run as root)`;
    }
  }
  return null;
}

/**
 * Options for node:test's `describe`/`test`: skip with the reason, except under CI=true where a
 * missing capability is a failure (the test runs and fails with the reason).
 */
export function deviceTestOptions(): { skip?: string } {
  const why = deviceTestsUnavailable();
  if (why === null) return {};
  if (process.env.CI === 'true') return {};
  return { skip: `device tests skipped: ${why}` };
}

/** Throws the unavailability reason (used under CI=true so the test fails with it). */
export function requireDevice(): void {
  const why = deviceTestsUnavailable();
  if (why !== null) throw new Error(`device tests cannot run: ${why}`);
}

export class Netns {
  readonly name: string;
  private children: ChildProcess[] = [];

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates a fresh namespace with `lo` up. */
  static create(prefix = 'nstest'): Netns {
    const name = `${prefix}-${process.pid}-${++counter}`;
    execFileSync('ip', ['netns', 'add', name]);
    const ns = new Netns(name);
    ns.exec('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs a command inside the namespace and returns its stdout; throws on non-zero exit. */
  exec(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string | Buffer } = {}): string {
    return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 30_000,
      input: opts.input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  /** Like exec, but returns status and output instead of throwing. */
  run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string | Buffer } = {}): {
    status: number | null;
    stdout: string;
    stderr: string;
  } {
    try {
      const stdout = this.exec(cmd, args, opts);
      return { status: 0, stdout, stderr: '' };
    } catch (e) {
      const err = e as { status: number | null; stdout?: string; stderr?: string };
      return { status: err.status ?? null, stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? '') };
    }
  }

  /** Starts a long-running command inside the namespace; it is killed (by PID) on destroy(). */
  spawn(cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /** Kills what this namespace's helpers started and deletes the namespace. */
  async destroy(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await waitExit(c, 5000);
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGKILL');
          await waitExit(c, 2000);
        }
      }
    }
    this.children = [];
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
}

export function waitExit(c: ChildProcess, ms: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Resolves with the first line of `child`'s stdout that starts with `prefix`. */
export function waitForLine(child: ChildProcess, prefix: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let errBuf = '';
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for '${prefix}'; stdout: ${buf}; stderr: ${errBuf}`));
    }, ms);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (line.startsWith(prefix)) {
          cleanup();
          resolve(line);
          return;
        }
      }
    };
    const onErr = (d: Buffer): void => {
      errBuf += d.toString();
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`exited (${code}) before '${prefix}'; stdout: ${buf}; stderr: ${errBuf}`));
    };
    const cleanup = (): void => {
      clearTimeout(t);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.on('exit', onExit);
  });
}
