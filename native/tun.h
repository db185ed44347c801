// Opening and configuring TUN/TAP devices through /dev/net/tun, independent of N-API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace netstack {

// TUNSETOFFLOAD flags (linux/if_tun.h). USO arrived in Linux 6.2, after some distributions'
// headers, so they are spelled out here.
constexpr unsigned kTunFCsum = 0x01;
constexpr unsigned kTunFTso4 = 0x02;
constexpr unsigned kTunFTso6 = 0x04;
constexpr unsigned kTunFTsoEcn = 0x08;
constexpr unsigned kTunFUso4 = 0x20;
constexpr unsigned kTunFUso6 = 0x40;
constexpr unsigned kTunFAll = kTunFCsum | kTunFTso4 | kTunFTso6 | kTunFTsoEcn | kTunFUso4 | kTunFUso6;

struct TunOpenOptions {
  std::string name;         // empty: kernel-chosen from "tun%d"/"tap%d"; may itself be a template
  bool tap = false;         // IFF_TAP (Ethernet frames) instead of IFF_TUN (IP packets)
  bool persist = false;     // TUNSETPERSIST 1: the device outlives the fds
  bool exclusive = false;   // IFF_TUN_EXCL: fail with EBUSY if the device already exists
  bool attach = false;      // the device must already exist (created by `ip tuntap add`)
  int queues = 1;           // > 1 or multiQueue: IFF_MULTI_QUEUE with this many fds
  bool multiQueue = false;
  bool vnetHdr = false;     // IFF_VNET_HDR
  int vnetHdrSize = 10;     // TUNSETVNETHDRSZ: 10 (virtio_net_hdr) or 12 (..._mrg_rxbuf)
  unsigned offloads = 0;    // TUNSETOFFLOAD flags; needs vnetHdr
  unsigned mtu = 0;         // 0: leave the device's MTU
  std::string netns;        // empty: the current namespace
};

struct TunDevice {
  std::vector<int> fds;     // one per queue, O_NONBLOCK|O_CLOEXEC
  std::string name;
  int ifindex = 0;
  unsigned mtu = 0;
  std::vector<uint8_t> address;  // the kernel side's MAC (TAP), empty for TUN
  unsigned flags = 0;            // the IFF_* flags given to TUNSETIFF
};

// Opens (creating if needed) the device and its queues, inside opts.netns. Throws SysError,
// with every fd closed and a persistent device it created removed again.
TunDevice OpenTun(const TunOpenOptions& opts);

// TUNSETOFFLOAD on an open queue fd; throws SysError.
void SetOffload(int fd, unsigned flags, const std::string& name);
// TUNSETPERSIST on an open queue fd; throws SysError.
void SetPersist(int fd, bool on, const std::string& name);
// TUNSETQUEUE on a queue fd of a multi-queue device: off (IFF_DETACH_QUEUE) disables the queue,
// so the kernel steers no packet to it while the open fd still keeps the device alive; on
// (IFF_ATTACH_QUEUE) enables it again. Throws SysError.
void SetQueueEnabled(int fd, bool on, const std::string& name);

}  // namespace netstack
