// A minimal rtnetlink (NETLINK_ROUTE) client: the few requests `ip link` and `ip addr` send to
// configure a TUN/TAP device, without running `ip`. Every request asks for an ACK, and a
// negative ACK becomes a SysError carrying the kernel's errno and its extended-ACK text.
//
// The socket belongs to the network namespace that is current when it is created, so callers
// construct it inside a NetnsScope.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace netstack {

struct LinkInfo {
  int index = 0;
  std::string name;
  unsigned mtu = 0;
  unsigned flags = 0;           // IFF_UP, IFF_RUNNING, ...
  std::vector<uint8_t> address; // IFLA_ADDRESS: empty for TUN (no link-layer address)
  std::string kind;             // IFLA_INFO_KIND: "tun" for TUN and TAP devices
};

struct LinkChange {
  std::optional<bool> up;
  std::optional<unsigned> mtu;
  std::optional<std::vector<uint8_t>> address;
};

// Validates an interface name the way the kernel's dev_valid_name() does, plus the `%d`
// template rule of dev_alloc_name() when `allowTemplate`; throws SysError(EINVAL).
void ValidateIfName(const std::string& name, bool allowTemplate);

class Rtnl {
 public:
  Rtnl();
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  // RTM_GETLINK by name; nullopt when there is no such device (ENODEV).
  std::optional<LinkInfo> GetLink(const std::string& name);
  // RTM_NEWLINK (without NLM_F_CREATE: a change, like `ip link set`).
  void SetLink(int index, const std::string& name, const LinkChange& change);
  // RTM_NEWADDR with NLM_F_CREATE|NLM_F_REPLACE (`ip addr replace`: adding twice is no error).
  // IPv6 addresses get IFA_F_NODAD so they are usable at once instead of after DAD.
  void AddAddress(int index, const std::string& name, int family, const uint8_t* address, unsigned prefixLength);
  // RTM_DELLINK.
  void DelLink(int index, const std::string& name);

 private:
  // Sends one request and reads until its ACK. `onReply` sees every non-error message that
  // answers it (for GET requests). Returns 0 or the kernel's positive errno, with the
  // extended-ACK text (if any) in `extack`.
  int Transact(std::vector<uint8_t>& request, std::string* extack,
               void (*onReply)(const void* msg, size_t len, void* ctx) = nullptr, void* ctx = nullptr);

  int fd_ = -1;
  uint32_t seq_ = 0;
};

}  // namespace netstack
