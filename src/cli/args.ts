/**
 * Command-line parsing for the `netstack` command: pure functions (no I/O), so they are unit
 * tested without a device. Errors are `UsageError`s, which main.ts prints as one line plus a
 * hint to use --help, exiting with status 2.
 */
import { parseArgs } from 'node:util';
import { isIPv4, isIPv6 } from 'node:net';

export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help the hint names ('' for the top level). */
    readonly command = '',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An address with its prefix length, as given on the command line. */
export interface Cidr {
  address: string;
  prefix: number;
  /** The original text, normalised to `address/prefix`. */
  text: string;
}

export interface HostConfig {
  command: 'host' | 'udp-echo';
  dev: string;
  tap: boolean;
  ip: Cidr;
  hostIp: Cidr;
  ip6: Cidr;
  hostIp6: Cidr;
  linkLocal: Cidr;
  mtu: number;
  /** Whether --mtu was given (with --no-configure the device's own MTU is used otherwise). */
  mtuGiven: boolean;
  configure: boolean;
  pcap: string | undefined;
  /** UDP echo port; 0 = no echo service. */
  udpEcho: number;
  /** Seconds between periodic counter reports; 0 = none. */
  stats: number;
  netns: string | undefined;
  /** The stack's MAC address in TAP mode (text), or undefined for the default. */
  mac: string | undefined;
  help: boolean;
}

export const DEFAULTS = {
  devTun: 'tun0',
  devTap: 'tap0',
  ip: '10.0.0.2/24',
  hostIp: '10.0.0.1/24',
  ip6: 'fd00::2/64',
  hostIp6: 'fd00::1/64',
  linkLocal: 'fe80::2/64',
  mtu: 1500,
  udpEcho: 8000,
  /** A locally administered unicast MAC for the stack's side of a TAP link. */
  mac: '02:00:00:00:00:02',
} as const;

export const MTU_MIN = 1280;
export const MTU_MAX = 65535;

export function parseCidr(text: string, family: 4 | 6, option: string, command = ''): Cidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const ok = family === 4 ? isIPv4(address) : isIPv6(address) && !address.includes('%');
  if (!ok) {
    throw new UsageError(`${option}: '${text}' is not an IPv${family} address with a prefix (like ${family === 4 ? '10.0.0.2/24' : 'fd00::2/64'})`, command);
  }
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      throw new UsageError(`${option}: bad prefix length '${p}' in '${text}' (0..${max})`, command);
    }
    prefix = Number(p);
  }
  return { address, prefix, text: `${address}/${prefix}` };
}

function parseIntOption(text: string, option: string, min: number, max: number, command: string): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${option}: '${text}' is not a whole number in ${min}..${max}`, command);
  }
  return Number(text);
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/** Linux interface names: 1..15 bytes, no '/', no whitespace, not '.' or '..'. */
const IFNAME_RE = /^[A-Za-z0-9_.:@+-]{1,15}$/;

/** Parses the options of `netstack host` and `netstack udp-echo`. */
export function parseHostArgs(command: 'host' | 'udp-echo', argv: string[]): HostConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        dev: { type: 'string' },
        tap: { type: 'boolean' },
        ip: { type: 'string' },
        'host-ip': { type: 'string' },
        ip6: { type: 'string' },
        'host-ip6': { type: 'string' },
        mtu: { type: 'string' },
        'no-configure': { type: 'boolean' },
        pcap: { type: 'string' },
        'udp-echo': { type: 'string' },
        port: { type: 'string' },
        stats: { type: 'string' },
        netns: { type: 'string' },
        mac: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError(cleanParseError((e as Error).message), command);
  }
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const help = values.help === true;
  const tap = values.tap === true;
  const dev = str('dev') ?? (tap ? DEFAULTS.devTap : DEFAULTS.devTun);
  if (!IFNAME_RE.test(dev) || dev === '.' || dev === '..') {
    throw new UsageError(`--dev: '${dev}' is not a valid interface name (1 to 15 letters, digits, or _.:@+-)`, command);
  }
  if (str('mac') !== undefined && !tap) throw new UsageError('--mac needs --tap (a TUN link has no MAC address)', command);
  const mac = str('mac');
  if (mac !== undefined) {
    if (!MAC_RE.test(mac)) throw new UsageError(`--mac: '${mac}' is not a MAC address like 02:00:00:00:00:02`, command);
    const first = parseInt(mac.slice(0, 2), 16);
    if (first & 1) throw new UsageError(`--mac: '${mac}' is a multicast address; use a unicast one (even first byte)`, command);
  }
  // `udp-echo` takes the port as --port as well as --udp-echo (the reference's udp_echo).
  const portText = str('udp-echo') ?? str('port');
  if (str('port') !== undefined && command !== 'udp-echo') {
    throw new UsageError("Unknown option '--port' (use --udp-echo PORT)", command);
  }
  const udpEcho = portText === undefined ? DEFAULTS.udpEcho : parseIntOption(portText, '--udp-echo', 0, 65535, command);
  if (command === 'udp-echo' && udpEcho === 0) throw new UsageError('--port: the UDP echo service needs a port in 1..65535', command);
  const stats = str('stats');
  let statsSeconds = 0;
  if (stats !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(stats) || Number(stats) <= 0 || Number(stats) > 86400) {
      throw new UsageError(`--stats: '${stats}' is not a number of seconds in (0, 86400]`, command);
    }
    statsSeconds = Number(stats);
  }
  const pcap = str('pcap');
  if (pcap === '') throw new UsageError('--pcap: needs a file name', command);
  const netns = str('netns');
  if (netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) {
    throw new UsageError(`--netns: '${netns}' is not a namespace name`, command);
  }
  const mtu = str('mtu') === undefined ? DEFAULTS.mtu : parseIntOption(str('mtu')!, '--mtu', MTU_MIN, MTU_MAX, command);
  const ip = parseCidr(str('ip') ?? DEFAULTS.ip, 4, '--ip', command);
  const hostIp = parseCidr(str('host-ip') ?? DEFAULTS.hostIp, 4, '--host-ip', command);
  const ip6 = parseCidr(str('ip6') ?? DEFAULTS.ip6, 6, '--ip6', command);
  const hostIp6 = parseCidr(str('host-ip6') ?? DEFAULTS.hostIp6, 6, '--host-ip6', command);
  if (ip.address === hostIp.address) throw new UsageError(`--ip and --host-ip are both ${ip.address}; the stack and the kernel need different addresses`, command);
  if (ip6.address === hostIp6.address) throw new UsageError(`--ip6 and --host-ip6 are both ${ip6.address}; the stack and the kernel need different addresses`, command);
  return {
    command,
    dev,
    tap,
    ip,
    hostIp,
    ip6,
    hostIp6,
    linkLocal: parseCidr(DEFAULTS.linkLocal, 6, 'link-local'),
    mtu,
    mtuGiven: str('mtu') !== undefined,
    configure: values['no-configure'] !== true,
    pcap,
    udpEcho,
    stats: statsSeconds,
    netns,
    mac: tap ? (mac ?? DEFAULTS.mac).toLowerCase() : undefined,
    help,
  };
}

/** parseArgs' messages mention internals ("To specify a positional argument..."); keep line one. */
function cleanParseError(msg: string): string {
  const first = msg.split('\n')[0]!.trim();
  return first.replace(/\. To specify a positional argument.*$/, '').replace(/^TypeError \[[A-Z_]+\]: /, '');
}

/** Parses a MAC address text into 6 bytes. */
export function macBytes(text: string): Uint8Array {
  return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
