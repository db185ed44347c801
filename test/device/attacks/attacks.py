#!/usr/bin/python3
"""
Attack helper for test/device/attacks.test.ts: a small server run inside the test's network
namespace, next to `netstack host` on a TUN device. It
- writes hand-made packets (scapy, or plain struct for the fast floods) straight onto the device
  with an AF_PACKET socket, so the kernel neither checks nor answers for them: an off-path
  attacker spoofing the kernel's addresses and ports;
- opens real kernel TCP connections to the stack's services (the victims of the spoofing);
- records, in a background thread, every packet the stack sends (and the kernel's TCP segments),
  so the test can check replies, challenge ACKs, segment sizes and header fields.

Protocol: one JSON object per line on stdin, one JSON object per line on stdout. The answer to a
failed command is {"error": "..."}; the server keeps serving. Commands ("cmd"):
  now                             {"now": T} (time.monotonic() of this process)
  since t [filter]                packets the stack sent since T matching filter (a dict of
                                  summary fields), {"packets": [...]}
  open id port v                  a kernel TCP connection to the stack's PORT (v 4 or 6)
  xfer id n                       sends n random bytes on connection id and reads them back
                                  (echo service): {"ok": bool, "sent": n, "got": m}
  quiet id ms                     bytes connection id receives within ms (must be 0 after xfer)
  state id settle                 after settle s: the stack's SND.NXT / RCV.NXT on connection id
                                  from the capture, and the kernel's, to check it is quiescent
  close id
  inject id flags seq ack [data] [wait]
                                  a TCP segment from connection id's kernel 4-tuple to the stack
                                  (data: bytes as text); answers the stack's segments on that
                                  4-tuple within wait s
  icmp ... see icmp_error()      a spoofed ICMP/ICMPv6 error to the stack quoting a segment the
                                  stack could have sent
  udp src dst dport [wait]        a UDP datagram from any source; the stack's packets within wait
  syn src dst dport [wait]        a TCP SYN from any source; the stack's packets within wait
  isn n dport                     n SYNs from distinct source ports; the SYN-ACKs' sequence numbers
  ipids kind n                    n echo requests (kind ping4) or UDP datagrams to the UDP echo
                                  service (kind udp4); the IPv4 IDs of the stack's replies
  flood v n size seconds          n never-completed fragments (random IDs and sources in the
                                  subnet, offset > 0, MF set) of size bytes within ~seconds
  quit
"""
import json, os, random, select, socket, struct, sys, threading, time

import logging
logging.getLogger('scapy.runtime').setLevel(logging.ERROR)
from scapy.all import IP, IPv6, TCP, UDP, ICMP, ICMPv6PacketTooBig, ICMPv6DestUnreach, ICMPv6EchoRequest, Raw  # noqa: E402

DEV = sys.argv[1] if len(sys.argv) > 1 else 'tun0'
ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
PACKET_OUTGOING = 4
ME4, STACK4 = '10.0.0.1', '10.0.0.2'
ME6, STACK6 = 'fd00::1', 'fd00::2'

packets = []          # what the stack sent ('dir': 'rx') and the kernel's TCP segments ('tx')
lock = threading.Lock()
recording = True


def summarize(proto, data, direction):
    s = {'t': time.monotonic(), 'dir': direction}
    if proto == ETH_P_IP and len(data) >= 20:
        ihl = (data[0] & 15) * 4
        tot = struct.unpack('!H', data[2:4])[0]
        s.update(v=4, src=socket.inet_ntop(socket.AF_INET, data[12:16]), dst=socket.inet_ntop(socket.AF_INET, data[16:20]),
                 proto=data[9], len=len(data), id=struct.unpack('!H', data[4:6])[0],
                 frag=struct.unpack('!H', data[6:8])[0] & 0x3fff)
        p = data[ihl:tot]
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
    elif nh == 6 and len(p) >= 20:
        sport, dport, seq, ack, off, flags, win = struct.unpack('!HHIIBBH', p[:16])
        names = ''.join(c for c, bit in zip('FSRPAUEC', range(8)) if flags & (1 << bit))
        s.update(sport=sport, dport=dport, seq=seq, ack=ack, flags=names, win=win, plen=len(p) - (off >> 4) * 4)
    elif nh == 17 and len(p) >= 8:
        sport, dport = struct.unpack('!HH', p[:4])
        s.update(sport=sport, dport=dport, payload=len(p) - 8)
    return s


def receiver():
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind((DEV, 0))
    ready.set()
    while True:
        data, addr = rx.recvfrom(70000)
        if not recording:
            continue
        out = addr[2] == PACKET_OUTGOING
        if out and not (addr[1] == ETH_P_IP and len(data) >= 20 and data[9] == 6) and \
                not (addr[1] == ETH_P_IPV6 and len(data) >= 40 and data[6] == 6):
            continue        # of what we send, only TCP is kept (the floods are not)
        s = summarize(addr[1], data, 'tx' if out else 'rx')
        with lock:
            packets.append(s)
            last_rx[0] = time.monotonic()


tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)


def send(pkt):
    data = bytes(pkt)
    tx.sendto(data, (DEV, ETH_P_IPV6 if (data[0] >> 4) == 6 else ETH_P_IP))


last_rx = [0.0]


def sync():
    """Waits until the receiver thread has been idle for 50 ms (bounded): it then has read
    everything the socket had queued, so answers are not missing packets it has yet to read."""
    end = time.monotonic() + 2
    while time.monotonic() < end:
        with lock:
            idle = time.monotonic() - last_rx[0]
        if idle >= 0.05:
            return
        time.sleep(0.05 - idle)


def matching(t0, flt, direction='rx'):
    sync()
    with lock:
        got = [p for p in packets if p['t'] >= t0 and p['dir'] == direction]
    return [p for p in got if all(p.get(k) == v for k, v in flt.items())]


# ---- kernel TCP connections (the victims) ---------------------------------------------------

conns = {}


def c_open(a):
    v = a.get('v', 4)
    dst = STACK4 if v == 4 else STACK6
    s = socket.socket(socket.AF_INET if v == 4 else socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(5)
    s.connect((dst, a['port']))
    conns[a['id']] = {'sock': s, 'v': v, 'lport': s.getsockname()[1], 'rport': a['port'],
                      'me': ME4 if v == 4 else ME6, 'stack': dst}
    return {'lport': s.getsockname()[1]}


def c_xfer(a):
    """Sends n random bytes and reads the echo back, both at once (select), byte for byte."""
    c = conns[a['id']]
    s = c['sock']
    data = os.urandom(a['n'])
    got = bytearray()
    sent = 0
    deadline = time.monotonic() + a.get('timeout', 10)
    s.setblocking(False)
    try:
        while len(got) < len(data) and time.monotonic() < deadline:
            w = [s] if sent < len(data) else []
            r, w, _ = select.select([s], w, [], 0.2)
            if w:
                try:
                    sent += s.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
            if r:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
    except OSError as e:
        return {'ok': False, 'sent': sent, 'got': len(got), 'errno': e.errno, 'err': str(e)}
    finally:
        s.setblocking(True)
        s.settimeout(5)
    return {'ok': bytes(got) == data, 'sent': sent, 'got': len(got)}


def c_quiet(a):
    s = conns[a['id']]['sock']
    s.setblocking(False)
    n = 0
    end = time.monotonic() + a['ms'] / 1000
    try:
        while time.monotonic() < end:
            r, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
            if r:
                chunk = s.recv(65536)
                if not chunk:
                    return {'bytes': n, 'eof': True}
                n += len(chunk)
    except OSError as e:
        return {'bytes': n, 'errno': e.errno, 'err': str(e)}
    finally:
        s.setblocking(True)
        s.settimeout(5)
    return {'bytes': n}


def seg_end(p):
    return (p['seq'] + p['plen'] + ('S' in p['flags']) + ('F' in p['flags'])) & 0xffffffff


def after(a, b):
    """a after b in sequence space (RFC 9293 §3.4)."""
    return 0 < ((a - b) & 0xffffffff) < 0x80000000


def c_state(a):
    """The stack's SND.NXT (end of its last new segment) and RCV.NXT (its latest ACK), and the
    kernel's SND.NXT and latest ACK, from the capture. Quiescent when they agree."""
    time.sleep(a.get('settle', 0.3))
    sync()
    c = conns[a['id']]
    with lock:
        segs = [p for p in packets if p.get('proto') == 6 and p['v'] == c['v']]
    stack = [p for p in segs if p['dir'] == 'rx' and p['sport'] == c['rport'] and p['dport'] == c['lport']]
    kern = [p for p in segs if p['dir'] == 'tx' and p['sport'] == c['lport'] and p['dport'] == c['rport']
            and sig(p['sport'], p['flags'], p['seq'], p['ack'], p['plen']) not in injected]
    if not stack or not kern:
        raise ValueError('no segments captured for ' + a['id'])
    snd_nxt = stack[0]['seq']
    for p in stack:
        e = seg_end(p)
        if after(e, snd_nxt):
            snd_nxt = e
    k_nxt = kern[0]['seq']
    for p in kern:
        e = seg_end(p)
        if after(e, k_nxt):
            k_nxt = e
    acks = [p for p in stack if 'A' in p['flags']]
    kacks = [p for p in kern if 'A' in p['flags']]
    win = max(p['win'] for p in kern[-5:])
    return {'snd_nxt': snd_nxt, 'rcv_nxt': acks[-1]['ack'], 'kernel_nxt': k_nxt, 'kernel_ack': kacks[-1]['ack'],
            'kernel_win': win, 'lport': c['lport'], 'rport': c['rport']}


def c_close(a):
    c = conns.pop(a['id'], None)
    if c:
        c['sock'].close()
    return {}


def tcp_from(c, flags, seq, ack, data=b'', window=502):
    l4 = TCP(sport=c['lport'], dport=c['rport'], flags=flags, seq=seq & 0xffffffff, ack=ack & 0xffffffff, window=window)
    if data:
        l4 = l4 / Raw(data)
    return (IP(src=c['me'], dst=c['stack']) if c['v'] == 4 else IPv6(src=c['me'], dst=c['stack'])) / l4


# Signatures of the segments we injected: they show up among the outgoing packets too, and must
# not count as the kernel's in state().
injected = set()


def sig(lport, flags, seq, ack, plen):
    return (lport, ''.join(sorted(flags)), seq & 0xffffffff, ack & 0xffffffff, plen)


def c_inject(a):
    c = conns[a['id']]
    data = a.get('data', '').encode()
    injected.add(sig(c['lport'], a['flags'], a['seq'], a['ack'], len(data)))
    t0 = time.monotonic()
    send(tcp_from(c, a['flags'], a['seq'], a['ack'], data))
    time.sleep(a.get('wait', 0.3))
    return {'packets': matching(t0, {'proto': 6, 'sport': c['rport'], 'dport': c['lport']})}


# ---- ICMP errors quoting a segment the stack sent ---------------------------------------------

def c_icmp(a):
    """kind: port_unreach | frag_needed (v4), ptb | port_unreach (v6). The quoted segment is
    STACK:qsport -> ME:qdport with sequence number qseq (what the stack would have sent), or with
    qproto "udp" a UDP datagram STACK:qsport -> ME:qdport."""
    v = a['v']
    if a.get('qproto', 'tcp') == 'udp':
        q = UDP(sport=a['qsport'], dport=a['qdport'])
    else:
        q = TCP(sport=a['qsport'], dport=a['qdport'], flags='A', seq=a['qseq'] & 0xffffffff, ack=a.get('qack', 0) & 0xffffffff,
                window=1000)
    q = q / Raw(b'\0' * a.get('qlen', 1448 if a['kind'] in ('frag_needed', 'ptb') else 0))
    if v == 4:
        quoted = IP(src=STACK4, dst=ME4, flags='DF', id=0x1234) / q
        if a['kind'] == 'frag_needed':
            icmp = ICMP(type=3, code=4, nexthopmtu=a['mtu'])
        else:
            icmp = ICMP(type=3, code=3)
        # RFC 792: the IP header plus at least 8 bytes; like Linux, quote up to 576 bytes.
        pkt = IP(src=a.get('src', ME4), dst=STACK4) / icmp / Raw(bytes(quoted)[:548])
    else:
        quoted = IPv6(src=STACK6, dst=ME6) / q
        if a['kind'] == 'ptb':
            icmp = ICMPv6PacketTooBig(mtu=a['mtu'])
        else:
            icmp = ICMPv6DestUnreach(code=4)
        pkt = IPv6(src=a.get('src', ME6), dst=STACK6) / icmp / Raw(bytes(quoted)[:1232])
    t0 = time.monotonic()
    send(pkt)
    time.sleep(a.get('wait', 0.1))
    return {'packets': matching(t0, {})}


# ---- packets from arbitrary sources --------------------------------------------------------

def c_udp(a):
    ip = IP(src=a['src'], dst=a['dst'], ttl=1) if ':' not in a['dst'] else IPv6(src=a['src'], dst=a['dst'], hlim=1)
    t0 = time.monotonic()
    send(ip / UDP(sport=a.get('sport', 40123), dport=a['dport']) / Raw(b'anyone there?'))
    time.sleep(a.get('wait', 0.3))
    return {'packets': matching(t0, {})}


def c_syn(a):
    ip = IP(src=a['src'], dst=a['dst']) if ':' not in a['dst'] else IPv6(src=a['src'], dst=a['dst'])
    t0 = time.monotonic()
    send(ip / TCP(sport=a.get('sport', 40124), dport=a['dport'], flags='S', seq=12345, window=8192))
    time.sleep(a.get('wait', 0.3))
    return {'packets': matching(t0, {})}


# ---- samples for the randomness checks --------------------------------------------------------

def c_isn(a):
    """n SYNs from distinct source ports to STACK4:dport (in batches, so the SYN queue never
    fills and no SYN cookie is sent; the kernel resets each SYN-ACK, having no such socket)."""
    n, dport = a['n'], a['dport']
    ports = random.sample(range(20000, 60000), n)
    t0 = time.monotonic()
    batch = 50
    for i in range(0, n, batch):
        for sp in ports[i:i + batch]:
            send(IP(src=ME4, dst=STACK4) / TCP(sport=sp, dport=dport, flags='S', seq=random.getrandbits(32), window=8192))
        time.sleep(0.05)
    time.sleep(0.3)
    want = set(ports)
    seen = {}
    for p in matching(t0, {'proto': 6, 'sport': dport}):
        if p['flags'] == 'SA' and p['dport'] in want and p['dport'] not in seen:
            seen[p['dport']] = p['seq']
    # In the order the SYNs were sent.
    return {'isns': [seen[p] for p in ports if p in seen], 'sent': n}


def c_ipids(a):
    n = a['n']
    t0 = time.monotonic()
    if a['kind'] == 'ping4':
        for i in range(n):
            send(IP(src=ME4, dst=STACK4) / ICMP(type=8, id=0x5151, seq=i) / Raw(b'ipid'))
            if i % 50 == 49:
                time.sleep(0.02)
        time.sleep(0.3)
        got = [p for p in matching(t0, {'proto': 1, 'type': 0})]
    else:
        for i in range(n):
            send(IP(src=ME4, dst=STACK4) / UDP(sport=41000 + i, dport=8000) / Raw(b'ipid'))
            if i % 50 == 49:
                time.sleep(0.02)
        time.sleep(0.3)
        got = [p for p in matching(t0, {'proto': 17, 'sport': 8000})]
    return {'ids': [p['id'] for p in got], 'sent': n}


# ---- fragment flood (plain struct: scapy is far too slow) -------------------------------------

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def c_flood(a):
    """n fragments that never complete: offset > 0 (so no first fragment, no Time Exceeded
    later), More Fragments set, a random ID and a random source in the subnet each, so every one
    opens a new reassembly. Sent in bursts paced to take about `seconds` (bounded)."""
    v, n, size, seconds = a['v'], a['n'], a['size'], a['seconds']
    size -= size % 8
    payload = os.urandom(size)
    bursts = max(1, n // 100)
    pause = seconds / bursts
    t0 = time.monotonic()
    deadline = t0 + seconds * 3 + 5
    sent = 0
    dst6 = socket.inet_pton(socket.AF_INET6, STACK6)
    pre6 = socket.inet_pton(socket.AF_INET6, 'fd00::')[:8]
    for i in range(n):
        if v == 4:
            src = bytes([10, 0, 0, random.choice([1] + list(range(3, 255)))])
            off = random.randint(1, (65535 - 20 - size) // 8)
            h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + size, random.getrandbits(16), 0x2000 | off, 64, 17, 0,
                            src, bytes([10, 0, 0, 2]))
            h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
            tx.sendto(h + payload, (DEV, ETH_P_IP))
        else:
            src = pre6 + os.urandom(8)
            off = random.randint(1, (65535 - size) // 8)
            frag = struct.pack('!BBHI', 17, 0, (off << 3) | 1, random.getrandbits(32))
            h = struct.pack('!IHBB', 0x60000000, 8 + size, 44, 64) + src + dst6
            tx.sendto(h + frag + payload, (DEV, ETH_P_IPV6))
        sent += 1
        if i % 100 == 99:
            time.sleep(pause)
            if time.monotonic() > deadline:
                break
    return {'sent': sent, 'seconds': time.monotonic() - t0}


COMMANDS = {'open': c_open, 'xfer': c_xfer, 'quiet': c_quiet, 'state': c_state, 'close': c_close, 'inject': c_inject,
            'icmp': c_icmp, 'udp': c_udp, 'syn': c_syn, 'isn': c_isn, 'ipids': c_ipids, 'flood': c_flood}

ready = threading.Event()
threading.Thread(target=receiver, daemon=True).start()
ready.wait(5)
print(json.dumps({'ready': True, 'now': time.monotonic()}), flush=True)
for line in sys.stdin:
    if not line.strip():
        continue
    try:
        a = json.loads(line)
        cmd = a['cmd']
        if cmd == 'quit':
            break
        if cmd == 'now':
            out = {'now': time.monotonic()}
        elif cmd == 'since':
            out = {'packets': matching(a['t'], a.get('filter', {}))}
        elif cmd == 'record':
            recording = bool(a['on'])
            out = {}
        else:
            out = COMMANDS[cmd](a)
        print(json.dumps(out), flush=True)
    except Exception as e:  # report, keep serving
        print(json.dumps({'error': '%s: %s' % (type(e).__name__, e)}), flush=True)
