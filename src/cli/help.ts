/** Help texts of the `netstack` command. */
import { DEFAULTS, MTU_MAX, MTU_MIN } from './args.js';

export const MAIN_HELP = `Usage: netstack <command> [options]

A user-space TCP/IP stack for Node.js that appears as a separate host on a TUN or TAP device.

Commands:
  host        create a TUN/TAP device and emulate a host on it (ping, UDP echo)
  udp-echo    the same host, with only the UDP echo service
  help [cmd]  show this help, or a command's help

Options:
  -h, --help     show help
  -v, --version  print the version

Run 'netstack <command> --help' for a command's options.
Creating a device needs root (or CAP_NET_ADMIN); see --no-configure for running without.
`;

const COMMON_OPTIONS = `Device:
  --dev NAME         device name (default ${DEFAULTS.devTun}, or ${DEFAULTS.devTap} with --tap)
  --tap              TAP (Ethernet, with ARP and NDP) instead of TUN (IP packets)
  --mac MAC          the stack's MAC address with --tap (default ${DEFAULTS.mac})
  --mtu N            link MTU, ${MTU_MIN}..${MTU_MAX} (default ${DEFAULTS.mtu}; with --no-configure the
                     device's own MTU, and --mtu sets only the stack's)
  --netns NAME       create the device inside this existing network namespace
  --no-configure     attach to an existing device and leave the kernel side alone
                     (no addresses, no MTU, no 'up'; the device is not deleted on exit)

Addresses:
  --ip CIDR          the stack's IPv4 address (default ${DEFAULTS.ip})
  --host-ip CIDR     the kernel side's IPv4 address (default ${DEFAULTS.hostIp})
  --ip6 CIDR         the stack's IPv6 address (default ${DEFAULTS.ip6})
  --host-ip6 CIDR    the kernel side's IPv6 address, without DAD (default ${DEFAULTS.hostIp6})
                     The stack also answers on ${DEFAULTS.linkLocal.split('/')[0]} (link-local).

Output:
  --pcap FILE        record every frame the stack sends and receives to FILE (pcap)
  --stats SECONDS    print the counters every SECONDS seconds (also on SIGUSR1)
  -h, --help         show this help

The one line 'ready dev=... ip=... ip6=... link-local=... udp-echo=... pid=...' goes to stdout
when the host is up. Counter tables (SIGUSR1, --stats) and diagnostics go to stderr.
SIGINT/SIGTERM stop it cleanly: the pcap file is flushed, the link closed, and a device this
command created is deleted. Exit status: 0 after a clean stop, 1 on an error (for example
missing privileges), 2 on bad options.
`;

export const HOST_HELP = `Usage: netstack host [options]

Creates a TUN (or TAP) device, configures the kernel side (${DEFAULTS.hostIp}, ${DEFAULTS.hostIp6}, up) and
runs a host on it that answers ping on every address and echoes UDP datagrams.

Service:
  --udp-echo PORT    echo UDP datagrams on PORT, IPv4 and IPv6 (default ${DEFAULTS.udpEcho}; 0 = off)

${COMMON_OPTIONS}
Examples:
  sudo npx netstack host
  ping 10.0.0.2; ping -6 fd00::2; ping fe80::2%tun0; nc -u 10.0.0.2 8000
  sudo npx netstack host --tap --pcap /tmp/host.pcap --stats 10
`;

export const UDP_ECHO_HELP = `Usage: netstack udp-echo [options]

The host of 'netstack host' with only the UDP echo service (the reference stack's udp_echo).
The stack core still answers ping.

Service:
  --port PORT        UDP port to echo on (default ${DEFAULTS.udpEcho}); --udp-echo PORT also works

${COMMON_OPTIONS}
Example:
  sudo npx netstack udp-echo --port 9000
`;

export function helpFor(command: string): string | undefined {
  switch (command) {
    case '':
    case 'help':
      return MAIN_HELP;
    case 'host':
      return HOST_HELP;
    case 'udp-echo':
      return UDP_ECHO_HELP;
    default:
      return undefined;
  }
}
