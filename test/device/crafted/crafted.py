#!/usr/bin/python3
"""
Crafted-packet helper for test/device/crafted.test.ts: a small server run inside the test's
network namespace. It writes hand-made (often malformed) packets built with scapy straight onto
the device with an AF_PACKET socket (so the kernel's IP layer neither checks nor fixes them),
and records every packet the stack sends back in a background thread.

Protocol: one command per line on stdin, one JSON object per line on stdout.
  case NAME [WAIT_S]   send case NAME, wait WAIT_S (default 0.3) s, answer with the packets that
                       came back meanwhile: {"case": NAME, "replies": [summary, ...]}
  since T              every packet received since T (time.monotonic() of this process):
                       {"replies": [...]}, for replies that come late (reassembly timeouts)
  now                  {"now": T}
  quit
Every summary has "t" (monotonic time of arrival) and fields per protocol, see summarize().
"""
import json, os, random, socket, struct, sys, threading, time

import logging
logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import (IP, IPOption, ICMP, UDP, TCP, Raw, IPv6, IPv6ExtHdrHopByHop,  # noqa: E402
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, ICMPv6EchoRequest, HBHOptUnknown,
                       PadN, Ether, fragment)

DEV = sys.argv[1] if len(sys.argv) > 1 else 'tun0'
TAP = len(sys.argv) > 2 and sys.argv[2] == 'tap'
STACK_MAC = sys.argv[3] if len(sys.argv) > 3 else '02:00:00:00:00:02'
ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
PACKET_OUTGOING = 4
ME4, STACK4 = '10.0.0.1', '10.0.0.2'
ME6, STACK6 = 'fd00::1', 'fd00::2'

replies = []
lock = threading.Lock()


def summarize(proto, data):
    s = {'t': time.monotonic()}
    if proto == ETH_P_IP and len(data) >= 20:
        ihl = (data[0] & 15) * 4
        s.update(v=4, src=socket.inet_ntop(socket.AF_INET, data[12:16]), dst=socket.inet_ntop(socket.AF_INET, data[16:20]),
                 proto=data[9], len=len(data))
        p = data[ihl:]
        nh = data[9]
    elif proto == ETH_P_IPV6 and len(data) >= 40:
        s.update(v=6, src=socket.inet_ntop(socket.AF_INET6, data[8:24]), dst=socket.inet_ntop(socket.AF_INET6, data[24:40]),
                 proto=data[6], len=len(data))
        p = data[40:]
        nh = data[6]
    else:
        s.update(v=0, ethertype=proto, len=len(data))
        return s
    if nh in (1, 58) and len(p) >= 4:
        s.update(type=p[0], code=p[1])
        if len(p) >= 8:
            s['pointer'] = struct.unpack('!I', p[4:8])[0] if nh == 58 else p[4]
    elif nh == 6 and len(p) >= 20:
        sport, dport, seq, ack, off, flags = struct.unpack('!HHIIBB', p[:14])
        names = ''.join(c for c, bit in zip('FSRPAUEC', range(8)) if flags & (1 << bit))
        s.update(sport=sport, dport=dport, seq=seq, ack=ack, flags=names)
    elif nh == 17 and len(p) >= 8:
        sport, dport = struct.unpack('!HH', p[:4])
        s.update(sport=sport, dport=dport, payload=len(p) - 8)
    return s


def receiver():
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    rx.bind((DEV, 0))
    ready.set()
    while True:
        data, addr = rx.recvfrom(70000)
        if addr[2] == PACKET_OUTGOING:
            continue
        with lock:
            replies.append(summarize(addr[1], data))


if TAP:
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    MY_MAC = open('/sys/class/net/%s/address' % DEV).read().strip()
else:
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)


def send(pkt, dst_mac=None):
    data = bytes(pkt)
    v6 = (data[0] >> 4) == 6
    if TAP:
        eth = Ether(src=MY_MAC, dst=dst_mac or STACK_MAC, type=ETH_P_IPV6 if v6 else ETH_P_IP)
        tx.sendto(bytes(eth) + data, (DEV, 0))
    else:
        tx.sendto(data, (DEV, ETH_P_IPV6 if v6 else ETH_P_IP))


def raw_bytes(pkt):
    return bytearray(bytes(pkt))


def fix_ip_checksum(b):
    ihl = min((b[0] & 15) * 4, len(b) & ~1)
    b[10:12] = b'\0\0'
    s = sum(struct.unpack('!%dH' % (ihl // 2), bytes(b[:ihl])))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    b[10:12] = struct.pack('!H', ~s & 0xffff)
    return b


def wrong(chk):
    return (chk ^ 0x5a5a) or 1


def v4(l4, **kw):
    return IP(src=ME4, dst=STACK4, **kw) / l4


def v6(l4, **kw):
    return IPv6(src=ME6, dst=STACK6, **kw) / l4


def echo4(ident=0x4242, payload=b'crafted-' * 4):
    return ICMP(type=8, id=ident, seq=1) / Raw(payload)


def echo6(ident=0x4343, payload=b'crafted6' * 4):
    return ICMPv6EchoRequest(id=ident, seq=1, data=payload)


used_ports = []


def sport():
    """A fresh source port for a TCP case; the case's answer lists them ("sports"), so the test
    can tell its replies from those of other connections (retransmitted SYN-ACKs ...)."""
    p = random.randint(20000, 60000)
    used_ports.append(p)
    return p


def tcp(dport, flags, seq=1000, ack=0, **kw):
    return v4(TCP(sport=sport(), dport=dport, flags=flags, seq=seq, ack=ack, window=8192, **kw))


def frag6(pkt_v6, ident, chunks):
    """IPv6 fragments of pkt_v6's payload (everything after the fixed header): chunks is a list
    of (offset_bytes, length_bytes, more) taken from the unfragmentable-free payload."""
    base = bytes(pkt_v6)
    nh = base[6]
    payload = base[40:]
    out = []
    for off, ln, more in chunks:
        out.append(IPv6(src=ME6, dst=pkt_v6.dst, nh=44) /
                   IPv6ExtHdrFragment(nh=nh, offset=off // 8, m=1 if more else 0, id=ident) /
                   Raw(payload[off:off + ln]))
    return out


def frag4(pkt_v4, ident, chunks):
    base = bytes(pkt_v4)
    ihl = (base[0] & 15) * 4
    payload = base[ihl:]
    out = []
    for off, ln, more in chunks:
        out.append(IP(src=pkt_v4.src, dst=pkt_v4.dst, proto=pkt_v4.proto, id=ident, frag=off // 8,
                      flags='MF' if more else 0) / Raw(payload[off:off + ln]))
    return out


def case(name):
    """Builds and sends case NAME."""
    # ---- lying IPv4 headers -------------------------------------------------------------
    if name == 'ipv4_ihl_lt5':
        b = raw_bytes(v4(echo4()))
        b[0] = 0x44
        send(fix_ip_checksum(b))
    elif name == 'ipv4_ihl_gt_packet':
        b = raw_bytes(v4(echo4(payload=b'')))   # 28 bytes, IHL claims 60
        b[0] = 0x4f
        send(fix_ip_checksum(b))
    elif name == 'ipv4_totlen_gt_packet':
        send(v4(echo4(), len=200))
    elif name == 'ipv4_totlen_lt_header':
        send(v4(echo4(), len=12))
    elif name == 'ipv4_truncated_header':
        send(bytes(v4(echo4()))[:14])
    elif name == 'ipv4_bad_version':
        b = raw_bytes(v4(echo4()))
        b[0] = 0x55
        send(fix_ip_checksum(b))
    elif name == 'ipv6_plen_gt_packet':
        send(v6(echo6(), plen=200))
    elif name == 'ipv6_truncated_header':
        send(bytes(v6(echo6()))[:30])
    elif name == 'ipv6_hbh_truncated':       # HBH claims 64 bytes, 8 are there
        b = raw_bytes(v6(IPv6ExtHdrHopByHop(nh=59)))
        b[41] = 7
        send(b)
    # ---- lying transport lengths --------------------------------------------------------
    elif name == 'udp_len_gt_packet':
        send(v4(UDP(sport=sport(), dport=8000, len=200) / Raw(b'lying udp length')))
    elif name == 'udp_len_lt_header':
        send(v4(UDP(sport=sport(), dport=8000, len=4) / Raw(b'lying udp length')))
    elif name == 'tcp_doff_lt5':
        send(tcp(80, 'S', dataofs=4))
    elif name == 'tcp_doff_gt_segment':
        send(tcp(80, 'S', dataofs=15))
    elif name == 'tcp_truncated':
        b = bytes(tcp(80, 'S'))
        b = bytearray(b[:30])
        b[2:4] = struct.pack('!H', 30)
        send(fix_ip_checksum(b))
    # ---- bad checksums ------------------------------------------------------------------
    elif name == 'ipv4_bad_checksum':
        p = IP(bytes(v4(echo4())))
        send(v4(echo4(), chksum=wrong(p.chksum)))
    elif name == 'icmp_bad_checksum':
        p = IP(bytes(v4(echo4())))
        send(v4(ICMP(type=8, id=0x4242, seq=1, chksum=wrong(p[ICMP].chksum)) / Raw(b'crafted-' * 4)))
    elif name == 'udp_bad_checksum':
        u = UDP(sport=40000, dport=8000) / Raw(b'bad checksum')
        good = IP(bytes(v4(u)))[UDP].chksum
        send(v4(UDP(sport=40000, dport=8000, chksum=wrong(good)) / Raw(b'bad checksum')))
    elif name == 'tcp_bad_checksum':
        sp = sport()
        t = TCP(sport=sp, dport=80, flags='S', seq=1000, window=8192)
        good = IP(bytes(v4(t)))[TCP].chksum
        send(v4(TCP(sport=sp, dport=80, flags='S', seq=1000, window=8192, chksum=wrong(good))))
    elif name == 'udp6_bad_checksum':
        u = UDP(sport=40002, dport=8000) / Raw(b'bad checksum')
        good = IPv6(bytes(v6(u)))[UDP].chksum
        send(v6(UDP(sport=40002, dport=8000, chksum=wrong(good)) / Raw(b'bad checksum')))
    elif name == 'udp6_zero_checksum':
        b = raw_bytes(v6(UDP(sport=40003, dport=8000) / Raw(b'zero checksum')))
        b[46:48] = b'\0\0'
        send(b)
    elif name == 'icmp6_bad_checksum':
        good = IPv6(bytes(v6(echo6())))[ICMPv6EchoRequest].cksum
        send(v6(ICMPv6EchoRequest(id=0x4343, seq=1, data=b'crafted6' * 4, cksum=wrong(good))))
    # ---- IPv4 options -------------------------------------------------------------------
    elif name == 'ipv4_option_overrun':      # record route claiming 39 bytes in a 4-byte area
        b = raw_bytes(v4(echo4(), options=[IPOption(b'\x01\x01\x01\x01')]))
        b[20:24] = b'\x07\x27\x04\x00'
        send(fix_ip_checksum(b))
    elif name == 'ipv4_option_zero_length':  # timestamp option with length 0
        send(v4(echo4(), options=[IPOption(b'\x44\x00\x05\x00')]))
    elif name == 'ipv4_option_length_one':
        send(v4(echo4(), options=[IPOption(b'\x83\x01\x00\x00')]))
    elif name == 'ipv4_options_nop_eol':     # well-formed: NOPs and EOL, must be answered
        send(v4(echo4(), options=[IPOption(b'\x01\x01\x01\x00')]))
    # ---- TCP flags ----------------------------------------------------------------------
    elif name.startswith('flags_'):
        _, port, combo = name.split('_', 2)
        flags = {'synfin': 'SF', 'synrst': 'SR', 'fin': 'F', 'null': '', 'xmas': 'FPU',
                 'rstack': 'RA', 'urg': 'U', 'ack': 'A', 'rst': 'R', 'synfinpsh': 'SFP'}[combo]
        ack = 777777 if 'A' in flags else 0
        send(tcp(int(port), flags, seq=5000, ack=ack, urgptr=1 if 'U' in flags else 0))
    # ---- IPv6 extension headers -------------------------------------------------------
    elif name == 'ipv6_long_destopt_chain':
        p = IPv6(src=ME6, dst=STACK6)
        for _ in range(40):
            p = p / IPv6ExtHdrDestOpt()
        send(p / echo6())
    elif name == 'ipv6_two_destopts':        # legal (before and after routing): answered
        send(v6(IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / echo6()))
    elif name == 'ipv6_repeated_hbh':
        send(v6(IPv6ExtHdrHopByHop() / IPv6ExtHdrHopByHop() / echo6()))
    elif name == 'ipv6_hbh_not_first':
        send(v6(IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / echo6()))
    elif name == 'ipv6_unknown_next_header':
        send(v6(Raw(b'\0' * 16), nh=253))
    elif name == 'ipv6_unknown_next_header_after_ext':
        send(v6(IPv6ExtHdrDestOpt(nh=132) / Raw(b'\0' * 16)))
    elif name.startswith('ipv6_unknown_option_'):
        action = int(name[-2:], 2)
        otype = (action << 6) | 0x1e
        send(v6(IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=otype, optdata=b'\0\0\0\0')]) / echo6()))
    elif name == 'ipv6_destopt_overrun':     # option length runs past the header
        b = raw_bytes(v6(IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\0\0\0\0')]) / echo6()))
        b[43] = 30
        send(b)
    # ---- fragments --------------------------------------------------------------------
    elif name == 'ipv6_frag_overlap':
        p = v6(echo6(ident=0x0501, payload=bytes(range(48))))
        a, b_, c = frag6(p, 0x5001, [(0, 24, True), (16, 16, True), (32, 24, False)])
        send(a); send(b_); send(c)
    elif name == 'ipv6_frag_overlap_then_rest':   # overlap, then the missing piece: still no reply
        p = v6(echo6(ident=0x0502, payload=bytes(range(48))))
        a, b_, c, d = frag6(p, 0x5002, [(0, 24, True), (16, 16, True), (24, 8, True), (32, 24, False)])
        send(a); send(b_); send(c); send(d)
    elif name == 'ipv6_frag_duplicate':
        p = v6(echo6(ident=0x0503, payload=bytes(range(48))))
        a, b_ = frag6(p, 0x5003, [(0, 32, True), (32, 24, False)])
        send(a); send(a); send(b_)
    elif name == 'ipv6_frag_tiny':           # 8-byte fragments: legal, answered
        p = v6(echo6(ident=0x0504, payload=bytes(range(48))))
        chunks = [(o, 8, o + 8 < 56) for o in range(0, 56, 8)]
        for f in frag6(p, 0x5004, chunks):
            send(f)
    elif name == 'ipv6_frag_first_incomplete':   # RFC 7112: header chain not in the first fragment
        p = v6(IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\0' * 20)]) / echo6(ident=0x0505))
        for f in frag6(p, 0x5005, [(0, 8, True), (8, len(bytes(p)) - 48, False)]):
            send(f)
    elif name == 'ipv6_frag_past_64k':
        send(IPv6(src=ME6, dst=STACK6, nh=44) / IPv6ExtHdrFragment(nh=58, offset=8189, m=1, id=0x5006) / Raw(b'\0' * 64))
    elif name == 'ipv6_frag_bad_length':     # M=1 but length not a multiple of 8
        send(IPv6(src=ME6, dst=STACK6, nh=44) / IPv6ExtHdrFragment(nh=58, offset=0, m=1, id=0x5007) / Raw(bytes(echo6())[:13]))
    elif name == 'ipv6_frag_never_completed':
        p = v6(echo6(ident=0x0508, payload=bytes(range(48))))
        send(frag6(p, 0x5008, [(0, 24, True)])[0])
    elif name == 'ipv4_frag_overlap':
        p = v4(echo4(ident=0x0601, payload=bytes(range(48))))
        for f in frag4(p, 0x6001, [(0, 24, True), (16, 16, True), (32, 24, False)]):
            send(f)
    elif name == 'ipv4_frag_duplicate':
        p = v4(echo4(ident=0x0602, payload=bytes(range(48))))
        a, b_ = frag4(p, 0x6002, [(0, 32, True), (32, 24, False)])
        send(a); send(a); send(b_)
    elif name == 'ipv4_frag_tiny':
        p = v4(echo4(ident=0x0603, payload=bytes(range(48))))
        for f in frag4(p, 0x6003, [(o, 8, o + 8 < 56) for o in range(0, 56, 8)]):
            send(f)
    elif name == 'ipv4_frag_past_64k':
        send(IP(src=ME4, dst=STACK4, proto=1, id=0x6004, frag=8189, flags='MF') / Raw(b'\0' * 64))
    elif name == 'ipv4_frag_never_completed_first':
        p = v4(echo4(ident=0x0605, payload=bytes(range(48))))
        send(frag4(p, 0x6005, [(0, 24, True)])[0])
    elif name == 'ipv4_frag_never_completed_middle':
        p = v4(echo4(ident=0x0606, payload=bytes(range(48))))
        send(frag4(p, 0x6006, [(24, 16, True)])[0])
    # ---- broadcast and multicast destinations ------------------------------------------
    elif name == 'bcast_ping_directed':
        send(IP(src=ME4, dst='10.0.0.255') / echo4(ident=0x0701), 'ff:ff:ff:ff:ff:ff')
    elif name == 'bcast_ping_limited':
        send(IP(src=ME4, dst='255.255.255.255') / echo4(ident=0x0702), 'ff:ff:ff:ff:ff:ff')
    elif name == 'bcast_udp_closed_directed':
        send(IP(src=ME4, dst='10.0.0.255') / UDP(sport=40010, dport=9) / Raw(b'x'), 'ff:ff:ff:ff:ff:ff')
    elif name == 'bcast_udp_closed_limited':
        send(IP(src=ME4, dst='255.255.255.255') / UDP(sport=40011, dport=9) / Raw(b'x'), 'ff:ff:ff:ff:ff:ff')
    elif name == 'mcast_udp_closed_v4':
        send(IP(src=ME4, dst='224.0.0.1', ttl=1) / UDP(sport=40012, dport=9) / Raw(b'x'), '01:00:5e:00:00:01')
    elif name == 'mcast_udp_closed_v6':
        send(IPv6(src=ME6, dst='ff02::1', hlim=1) / UDP(sport=40013, dport=9) / Raw(b'x'), '33:33:00:00:00:01')
    elif name == 'bcast_tcp_syn_closed':
        send(IP(src=ME4, dst='10.0.0.255') / TCP(sport=sport(), dport=81, flags='S', seq=1), 'ff:ff:ff:ff:ff:ff')
    elif name == 'bcast_tcp_syn_listener':
        send(IP(src=ME4, dst='10.0.0.255') / TCP(sport=sport(), dport=80, flags='S', seq=1), 'ff:ff:ff:ff:ff:ff')
    elif name == 'bcast_tcp_syn_unicast_mac':   # broadcast IP in a frame to the stack's MAC
        send(IP(src=ME4, dst='10.0.0.255') / TCP(sport=sport(), dport=81, flags='S', seq=1))
    elif name == 'bcast_tcp_syn_limited':
        send(IP(src=ME4, dst='255.255.255.255') / TCP(sport=sport(), dport=81, flags='S', seq=1), 'ff:ff:ff:ff:ff:ff')
    elif name == 'mcast_tcp_syn_v4':
        send(IP(src=ME4, dst='224.0.0.1') / TCP(sport=sport(), dport=80, flags='S', seq=1), '01:00:5e:00:00:01')
    elif name == 'mcast_tcp_syn_v6':
        send(IPv6(src=ME6, dst='ff02::1') / TCP(sport=sport(), dport=80, flags='S', seq=1), '33:33:00:00:00:01')
    elif name == 'mcast_ipv6_unknown_option_10':   # action 10 answers multicast too (RFC 8200 §4.2)
        send(IPv6(src=ME6, dst='ff02::1') / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x9e, optdata=b'\0\0\0\0')]) /
             echo6(), '33:33:00:00:00:01')
    elif name == 'mcast_ipv6_unknown_option_11':   # action 11: not to multicast
        send(IPv6(src=ME6, dst='ff02::1') / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0xde, optdata=b'\0\0\0\0')]) /
             echo6(), '33:33:00:00:00:01')
    elif name == 'ping4':
        send(v4(echo4(ident=0x0999)))
    elif name == 'ping6':
        send(v6(echo6(ident=0x0999)))
    else:
        raise ValueError('unknown case ' + name)


def tcp_option_case(name):
    """TCP options scapy would tidy up: patched in the bytes, checksum recomputed."""
    opt = {'tcp_option_overrun': b'\x02\x0a\x05\xb4', 'tcp_option_zero_length': b'\x08\x00\x00\x00',
           'tcp_option_length_one': b'\x03\x01\x00\x00'}[name]
    t = TCP(sport=sport(), dport=80, flags='S', seq=1000, window=8192, dataofs=6) / Raw(b'')
    b = bytearray(bytes(v4(t)))
    b = b[:40] + bytearray(opt)
    b[2:4] = struct.pack('!H', len(b))
    fix_ip_checksum(b)
    b[36:38] = b'\0\0'
    pseudo = bytes(b[12:20]) + struct.pack('!BBH', 0, 6, len(b) - 20)
    seg = pseudo + bytes(b[20:])
    s = sum(struct.unpack('!%dH' % (len(seg) // 2), seg))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    b[36:38] = struct.pack('!H', ~s & 0xffff)
    send(b)


ready = threading.Event()
threading.Thread(target=receiver, daemon=True).start()
ready.wait(5)
print(json.dumps({'ready': True, 'now': time.monotonic()}), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    try:
        if parts[0] == 'quit':
            break
        if parts[0] == 'now':
            print(json.dumps({'now': time.monotonic()}), flush=True)
        elif parts[0] == 'since':
            t = float(parts[1])
            with lock:
                got = [r for r in replies if r['t'] >= t]
            print(json.dumps({'replies': got}), flush=True)
        elif parts[0] == 'case':
            name = parts[1]
            wait = float(parts[2]) if len(parts) > 2 else 0.3
            t0 = time.monotonic()
            used_ports.clear()
            if name.startswith('tcp_option_'):
                tcp_option_case(name)
            else:
                case(name)
            time.sleep(wait)
            with lock:
                got = [r for r in replies if r['t'] >= t0]
            print(json.dumps({'case': name, 'sports': used_ports, 'replies': got}), flush=True)
        else:
            raise ValueError('unknown command ' + parts[0])
    except Exception as e:  # report, keep serving
        print(json.dumps({'error': '%s: %s' % (type(e).__name__, e)}), flush=True)
