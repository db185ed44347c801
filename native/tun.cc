#include "tun.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "netns.h"
#include "rtnl.h"
#include "sys_error.h"

namespace netstack {

namespace {

std::string Kind(bool tap) { return tap ? "tap" : "tun"; }

// The remedy for failing to create or attach a device without the needed privilege.
std::string PermissionRemedy(const std::string& name, bool tap) {
  const std::string dev = name.find('%') == std::string::npos ? name : Kind(tap) + "0";
  return ". Run as root, grant CAP_NET_ADMIN (setcap cap_net_admin+ep $(which node)), or attach to a device you own: "
         "sudo ip tuntap add dev " + dev + " mode " + Kind(tap) + " user $USER";
}

int OpenCloneDevice() {
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) return fd;
  const int err = errno;
  std::string msg = "cannot open /dev/net/tun: " + ErrnoText(err);
  if (err == ENOENT || err == ENXIO || err == ENODEV) {
    msg += ". The TUN/TAP driver is not available: load it with `modprobe tun` (in a container, pass the device in, "
           "e.g. docker run --device /dev/net/tun --cap-add NET_ADMIN)";
  } else if (err == EACCES || err == EPERM) {
    msg += ". Run as root, or make /dev/net/tun readable and writable for this user (it normally is, mode 0666)";
  }
  throw SysError{err, "open", msg};
}

class FdList {
 public:
  ~FdList() {
    for (int fd : fds_) close(fd);
  }
  void Add(int fd) { fds_.push_back(fd); }
  std::vector<int> Release() { return std::move(fds_); }
  int First() const { return fds_.empty() ? -1 : fds_[0]; }

 private:
  std::vector<int> fds_;
};

}  // namespace

void SetOffload(int fd, unsigned flags, const std::string& name) {
  if (ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) != 0) {
    const int err = errno;
    std::string msg = "cannot set offloads 0x" + [&] {
      char b[16];
      std::snprintf(b, sizeof(b), "%x", flags);
      return std::string(b);
    }() + " on " + name + ": " + ErrnoText(err);
    if (err == EINVAL) {
      msg += ". This kernel does not support that combination (USO needs Linux 6.2, CSUM, and both USO4 and USO6; "
             "TSO needs CSUM)";
    }
    throw SysError{err, "TUNSETOFFLOAD", msg};
  }
}

void SetPersist(int fd, bool on, const std::string& name) {
  if (ioctl(fd, TUNSETPERSIST, static_cast<unsigned long>(on ? 1 : 0)) != 0) {
    const int err = errno;
    std::string msg = "cannot " + std::string(on ? "make " : "unmake ") + name + " persistent: " + ErrnoText(err);
    if (err == EPERM) msg += ". Changing persistence needs CAP_NET_ADMIN";
    throw SysError{err, "TUNSETPERSIST", msg};
  }
}

void SetQueueEnabled(int fd, bool on, const std::string& name) {
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE);
  if (ioctl(fd, TUNSETQUEUE, &ifr) != 0) {
    const int err = errno;
    std::string msg = "cannot " + std::string(on ? "enable" : "disable") + " a queue of " + name + ": " + ErrnoText(err);
    if (err == EINVAL) msg += ". Only a multi-queue device's queues can be disabled, and only once (or enabled when disabled)";
    throw SysError{err, "TUNSETQUEUE", msg};
  }
}

TunDevice OpenTun(const TunOpenOptions& opts) {
  const bool multi = opts.multiQueue || opts.queues > 1;
  const int queues = opts.queues < 1 ? 1 : opts.queues;
  const std::string name = opts.name.empty() ? Kind(opts.tap) + "%d" : opts.name;
  const bool isTemplate = name.find('%') != std::string::npos;
  ValidateIfName(name, !opts.attach);
  if (opts.vnetHdr && opts.vnetHdrSize != 10 && opts.vnetHdrSize != 12) {
    throw SysError{EINVAL, "TUNSETVNETHDRSZ", "vnetHdrSize must be 10 (virtio_net_hdr) or 12 (virtio_net_hdr_mrg_rxbuf)"};
  }
  if (opts.offloads != 0 && !opts.vnetHdr) {
    throw SysError{EINVAL, "TUNSETOFFLOAD", "offloads need vnetHdr: without the virtio-net header user space cannot see "
                                            "which packets carry partial checksums or are GSO super-packets"};
  }
  if ((opts.offloads & ~kTunFAll) != 0) throw SysError{EINVAL, "TUNSETOFFLOAD", "unknown offload flags"};
  if (opts.attach && opts.exclusive) {
    throw SysError{EINVAL, "TUNSETIFF", "attach and exclusive contradict each other: exclusive means create a new device"};
  }
  if (queues > 256) throw SysError{EINVAL, "TUNSETIFF", "at most 256 queues (MAX_TAP_QUEUES)"};

  NetnsScope ns(opts.netns);
  Rtnl rtnl;
  const std::string where = opts.netns.empty() ? "" : " in network namespace " + opts.netns;

  bool existed = false;
  if (!isTemplate) {
    auto before = rtnl.GetLink(name);
    existed = before.has_value();
    if (existed && before->kind != "tun") {
      throw SysError{EEXIST, "TUNSETIFF", "cannot open " + name + where + ": an interface of that name exists and is not a TUN/TAP device" +
                                              (before->kind.empty() ? "" : " (it is a " + before->kind + " device)")};
    }
  }
  if (opts.attach && !existed) {
    throw SysError{ENODEV, "TUNSETIFF", "cannot attach to " + name + where + ": no such device (ENODEV). Create it first: sudo ip tuntap add dev " +
                                            name + " mode " + Kind(opts.tap) + (multi ? " multi_queue" : "") + " user $USER"};
  }
  if (opts.exclusive && existed) {
    throw SysError{EBUSY, "TUNSETIFF", "cannot create " + name + where + ": a device of that name already exists (EBUSY). " +
                                           "Choose another name, delete it (ip link del " + name + "), or open without exclusive to attach to it"};
  }

  unsigned flags = (opts.tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
  if (opts.vnetHdr) flags |= IFF_VNET_HDR;
  if (multi) flags |= IFF_MULTI_QUEUE;

  FdList fds;
  TunDevice dev;
  dev.name = name;
  bool madePersistent = false;
  try {
    for (int q = 0; q < queues; q++) {
      const int fd = OpenCloneDevice();
      fds.Add(fd);
      ifreq ifr{};
      // Later queues join the device the first one created, under the name the kernel chose.
      std::strncpy(ifr.ifr_name, dev.name.c_str(), IFNAMSIZ - 1);
      ifr.ifr_flags = static_cast<short>(flags | (q == 0 && opts.exclusive ? IFF_TUN_EXCL : 0));
      if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        const int err = errno;
        const std::string verb = existed || q > 0 ? "attach to " : "create ";
        std::string msg = "cannot " + verb + dev.name + where + ": " + ErrnoText(err);
        if (err == EPERM) {
          msg += PermissionRemedy(dev.name, opts.tap);
        } else if (err == EBUSY) {
          msg += existed ? ". The device is in use: a single-queue device takes one open fd at a time. Close the other user, "
                           "or create the device with multi_queue"
                         : ". The device already exists";
        } else if (err == EINVAL) {
          msg += existed ? ". The existing device's settings differ: check TUN vs TAP and multi-queue (ip -d link show " + dev.name + ")"
                         : ". The kernel refused these flags";
        } else if (err == ENFILE || err == ENOMEM) {
          msg += ". Out of resources";
        }
        throw SysError{err, "TUNSETIFF", msg};
      }
      if (q == 0) {
        dev.name = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
        if (opts.persist) {
          SetPersist(fd, true, dev.name);
          madePersistent = !existed;
        }
        if (opts.vnetHdr) {
          int size = opts.vnetHdrSize;
          if (ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) {
            const int err = errno;
            throw SysError{err, "TUNSETVNETHDRSZ", "cannot set the vnet header size of " + dev.name + ": " + ErrnoText(err)};
          }
          SetOffload(fd, opts.offloads, dev.name);
        }
      }
    }
    auto info = rtnl.GetLink(dev.name);
    if (!info) throw SysError{ENODEV, "RTM_GETLINK", dev.name + " disappeared while it was being opened"};
    if (opts.mtu != 0 && opts.mtu != info->mtu) {
      LinkChange change;
      change.mtu = opts.mtu;
      rtnl.SetLink(info->index, dev.name, change);
      info->mtu = opts.mtu;
    }
    dev.ifindex = info->index;
    dev.mtu = info->mtu;
    dev.address = info->address;
    dev.flags = flags;
  } catch (...) {
    // Leave nothing behind: a device we made persistent would otherwise outlive the failure.
    if (madePersistent && fds.First() >= 0) ioctl(fds.First(), TUNSETPERSIST, 0UL);
    throw;
  }
  dev.fds = fds.Release();
  return dev;
}

}  // namespace netstack
