/**
 * Runs the `netstack` command as a child process for device tests (it creates its device inside
 * the test's namespace through --netns) and collects its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitForLine, waitExit } from './netns.js';

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
