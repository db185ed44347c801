/** Help texts of the `netstack` command. */
import { DEFAULTS, MTU_MAX, MTU_MIN } from './args.js';

export const MAIN_HELP = `Usage: netstack <command> [options]

A user-space TCP/IP stack for Node.js that appears as a separate host on a TUN or TAP device.

Commands:
  host        create a TUN/TAP device and emulate a host on it (ping, UDP echo,
              TCP echo/discard/chargen, HTTP)
  udp-echo    the same host, with only the UDP echo service
  download    bulk TCP from a server on the kernel side to the stack (raw or HTTP GET)
  upload      bulk TCP from the stack to a server on the kernel side
  help [cmd]  show this help, or a command's help

Options:
  -h, --help     show help
  -v, --version  print the version

Run 'netstack <command> --help' for a command's options.
Creating a device needs root (or CAP_NET_ADMIN); see --no-configure for running without.
`;

const DEVICE_OPTIONS = `Device:
  --dev NAME         device name (default ${DEFAULTS.devTun}, or ${DEFAULTS.devTap} with --tap)
  --tap              TAP (Ethernet, with ARP and NDP) instead of TUN (IP packets)
  --mac MAC          the stack's MAC address with --tap (default ${DEFAULTS.mac})
  --mtu N            link MTU, ${MTU_MIN}..${MTU_MAX} (default ${DEFAULTS.mtu}; with --no-configure the
                     device's own MTU, and --mtu sets only the stack's)
  --netns NAME       create the device inside this existing network namespace
  --no-configure     attach to an existing device and leave the kernel side alone
                     (no addresses, no MTU, no 'up'; the device is not deleted on exit)
  --offload          open the device with a virtio-net header (IFF_VNET_HDR) and offloads:
                     the kernel hands over TCP super-packets of up to 64 KiB whole with
                     checksums it vouches for, and the stack sends TCP in super-segments
                     the kernel cuts (TSO) with checksums it completes (TUN only; with
                     --tap only the receive side); reset when the device is closed

Addresses:
  --ip CIDR          the stack's IPv4 address (default ${DEFAULTS.ip})
  --host-ip CIDR     the kernel side's IPv4 address (default ${DEFAULTS.hostIp})
  --ip6 CIDR         the stack's IPv6 address (default ${DEFAULTS.ip6})
  --host-ip6 CIDR    the kernel side's IPv6 address, without DAD (default ${DEFAULTS.hostIp6})
                     The stack also answers on ${DEFAULTS.linkLocal.split('/')[0]} (link-local).

Testing:
  --impair SPEC      emulate a bad path between the device and the stack, both directions,
                     e.g. delay=5ms,loss=3%,duplicate=1%,reorder=25%,seed=1 (reorder
                     holds that share an extra 0.5-2x delay, so it needs a delay; for
                     kernels without tc netem)
`;

const COMMON_OPTIONS = `${DEVICE_OPTIONS}
Output:
  --pcap FILE        record every frame the stack sends and receives to FILE (pcap)
  --stats SECONDS    print the counters every SECONDS seconds (also on SIGUSR1): the stack's
                     counters, the link's, a 'limits' table (each resource limit's current
                     use, its bound and the drops at the bound), open sockets, memory
  -h, --help         show this help

Stopping:
  --shutdown-grace SECONDS
                     on SIGINT/SIGTERM, how long open TCP connections get to close after
                     the stack's FIN before they are reset (default ${DEFAULTS.shutdownGrace}; 0 = reset at once)

The one line 'ready dev=... ip=... ip6=... link-local=... udp-echo=... pid=...' goes to stdout
when the host is up. Counter tables (SIGUSR1, --stats) and diagnostics go to stderr.
SIGINT/SIGTERM stop it cleanly: the listeners close (a new connection is refused with a RST),
every TCP connection gets a FIN after the data already queued (echo and chargen stop
sending, an HTTP response in progress is finished, with 'Connection: close'), what still
arrives is read, and after the peers close or the grace period ends, whatever is left is
reset; a second signal resets it at once. Then a per-service summary goes to stderr (e.g.
'discard: N bytes from M connections': bytes the service read), the pcap file is flushed,
the link closed, a device this command created is deleted, and 'stopped' goes to stdout.
Exit status: 0 after a clean stop, 1 on an error (for example missing privileges), 2 on bad
options.
`;

export const HOST_HELP = `Usage: netstack host [options]

Creates a TUN (or TAP) device, configures the kernel side (${DEFAULTS.hostIp}, ${DEFAULTS.hostIp6}, up) and
runs a host on it that answers ping on every address, echoes UDP datagrams and offers
TCP services.

Services (all on IPv4 and IPv6):
  --udp-echo PORT    echo UDP datagrams on PORT (default ${DEFAULTS.udpEcho}; 0 = off)
  TCP echo on port 7, discard on 9, chargen on 19 (RFC 864: 72-character lines rotating
  through the 95 printable ASCII characters, CR LF), and an HTTP/1.1 server (Node's http over
  the stack, keep-alive): / is a small HTML page, /bytes/N is N bytes of the chargen pattern.
  --http-port PORT   the HTTP server's port (default ${DEFAULTS.httpPort}; 0 = off)
  --no-tcp-services  no TCP services at all (TCP to any port is then refused with a RST)

Scaling:
  --shards N         run N stacks (1..64), one per worker thread, each with the same
                     addresses and services on its own queue of a multi-queue TUN device;
                     the kernel spreads flows over the queues by their hash. Counter
                     tables show the sums and each shard. Not with --tap or --pcap.

${COMMON_OPTIONS}
Examples:
  sudo npx netstack host
  ping 10.0.0.2; ping -6 fd00::2; ping fe80::2%tun0; nc -u 10.0.0.2 8000
  nc 10.0.0.2 7; nc 10.0.0.2 19 | head; curl http://10.0.0.2/bytes/1000000 | sha256sum
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

const TRANSFER_OUTPUT = `Output:
  --json             print the summary as one JSON object on one line of stdout:
                     {"command","remote","bytes","seconds","mbps","sha256","retransmits"}
  --no-progress      no progress bar (it is drawn on stderr only when stderr is a terminal)
  --timeout SECONDS  give up when nothing moves for this long, connecting included (default ${DEFAULTS.transferTimeout})
  --pcap FILE        record every frame the stack sends and receives to FILE (pcap)
  --stats SECONDS    print the counters every SECONDS seconds (also on SIGUSR1), and at the end
  -h, --help         show this help

The summary (stdout): bytes, seconds (from the connection being established to the last byte
for download, to the server's close for upload), Mbit/s (10^6 bits per second of payload),
the SHA-256 of the bytes transferred (of the body, with --http) and the stack's retransmitted
segments. Exit status: 0 on success, 1 on an error (refused, reset, short, stalled, a signal),
2 on bad options. The device is set up and removed as by 'netstack host'.
`;

export const DOWNLOAD_HELP = `Usage: netstack download [options]

Sets up the device as 'netstack host' does, then the stack connects to a TCP server on the
kernel side and reads from it (the reference stack's tcp_bulk_download).

Transfer:
  --connect HOST:PORT  the server (default ${DEFAULTS.hostIp.split('/')[0]}:${DEFAULTS.connectPort}, the --host-ip address;
                     IPv6 in brackets: [fd00::1]:3000)
  --v6               connect to the --host-ip6 address (default [${DEFAULTS.hostIp6.split('/')[0]}]:${DEFAULTS.connectPort})
  --bytes N          read N bytes, then close (suffixes K, M, G, T: 1K = 1024; e.g. 100M);
                     without it, read until the server closes
  --http PATH        an HTTP/1.1 GET of PATH instead (Node's http client over the stack);
                     only the body counts, and the status must be 200

${DEVICE_OPTIONS}
${TRANSFER_OUTPUT}
Examples:
  python3 -m http.server --bind 10.0.0.1 3000 &   # on the kernel side, once tun0 exists
  sudo npx netstack download --http /bigfile --json
  sudo npx netstack download --connect [fd00::1]:5001 --bytes 1G
`;

export const UPLOAD_HELP = `Usage: netstack upload [options]

Sets up the device as 'netstack host' does, then the stack connects to a TCP server on the
kernel side, sends it data, half-closes, and waits for the server to close its side (the
reference stack's tcp_bulk_upload).

Transfer:
  --connect HOST:PORT  the server (default ${DEFAULTS.hostIp.split('/')[0]}:${DEFAULTS.connectPort}, the --host-ip address;
                     IPv6 in brackets: [fd00::1]:3000)
  --v6               connect to the --host-ip6 address (default [${DEFAULTS.hostIp6.split('/')[0]}]:${DEFAULTS.connectPort})
  --bytes N          send N bytes of the chargen pattern (RFC 864 lines; suffixes K, M, G, T)
  --file FILE        send the contents of FILE instead

${DEVICE_OPTIONS}
${TRANSFER_OUTPUT}
Examples:
  sudo npx netstack upload --bytes 100M --json
  sudo npx netstack upload --v6 --file /tmp/data.bin
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
    case 'download':
      return DOWNLOAD_HELP;
    case 'upload':
      return UPLOAD_HELP;
    default:
      return undefined;
  }
}
