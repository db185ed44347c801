#!/usr/bin/env node
/**
 * The `netstack` command. Commands: `host`, `udp-echo`, `download`, `upload`, `help`; `--version`.
 *
 * Exit status: 0 after a clean stop, 1 on a runtime error (printed as one line, no stack trace
 * unless NETSTACK_DEBUG=1), 2 on bad usage (one line plus a hint to use --help).
 */
import { readFileSync } from 'node:fs';
import { UsageError, parseHostArgs, parseTransferArgs } from './args.js';
import { helpFor } from './help.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function usageFail(e: UsageError): never {
  const cmd = e.command ? `netstack ${e.command}` : 'netstack';
  process.stderr.write(`${cmd}: ${e.message}\nTry '${cmd} --help' for more information.\n`);
  process.exit(2);
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    const topic = first === 'help' ? (rest[0] ?? '') : '';
    const text = helpFor(topic);
    if (text === undefined) throw new UsageError(`unknown command '${topic}'`);
    process.stdout.write(text);
    // No command at all is a usage error (but still shows the help).
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    process.stdout.write(`netstack ${version()}\n`);
    return 0;
  }
  if (first === 'host' || first === 'udp-echo') {
    // --help wins over any other (even invalid) option.
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(helpFor(first)!);
      return 0;
    }
    const config = parseHostArgs(first, rest);
    if (config.help) {
      process.stdout.write(helpFor(first)!);
      return 0;
    }
    // Loaded only when needed: the help and parsing paths must work without the native addon.
    const { runHost } = await import('./host.js');
    return runHost(config);
  }
  if (first === 'download' || first === 'upload') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(helpFor(first)!);
      return 0;
    }
    const config = parseTransferArgs(first, rest);
    const { runTransfer } = await import('./transfer.js');
    return runTransfer(config);
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'`);
  throw new UsageError(`unknown command '${first}'`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) usageFail(e);
    const err = e as Error;
    const msg = err?.message ?? String(e);
    process.stderr.write(`netstack: ${msg}\n`);
    if (process.env.NETSTACK_DEBUG === '1' && err?.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  },
);
