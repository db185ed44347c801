#include "rtnl.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys_error.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif

namespace netstack {

namespace {

// Request building: a netlink message is a header, a fixed family struct, then 4-byte-aligned
// attributes (struct rtattr + payload).
class Msg {
 public:
  Msg(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_HDRLEN);
    auto* h = hdr();
    h->nlmsg_len = NLMSG_HDRLEN;
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
  }
  template <class T>
  T* Put(const T& body) {
    const size_t at = Reserve(NLMSG_ALIGN(sizeof(T)));
    std::memcpy(buf_.data() + at, &body, sizeof(T));
    return reinterpret_cast<T*>(buf_.data() + at);
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    const size_t at = Reserve(RTA_SPACE(len));
    rtattr a{};
    a.rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
    a.rta_type = type;
    std::memcpy(buf_.data() + at, &a, sizeof(a));
    if (len > 0) std::memcpy(buf_.data() + at + RTA_LENGTH(0), data, len);
  }
  void AttrU32(uint16_t type, uint32_t v) { Attr(type, &v, sizeof(v)); }
  void AttrStr(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  size_t Reserve(size_t n) {
    const size_t at = buf_.size();
    buf_.resize(at + n, 0);
    hdr()->nlmsg_len = static_cast<uint32_t>(buf_.size());
    return at;
  }
  std::vector<uint8_t> buf_;
};

std::string WithExtack(const std::string& base, const std::string& extack) {
  return extack.empty() ? base : base + " (kernel: " + extack + ")";
}

}  // namespace

void ValidateIfName(const std::string& name, bool allowTemplate) {
  auto fail = [&](const std::string& why) {
    std::string shown;
    for (const char c : name) shown += c == '\0' ? std::string("\\0") : std::string(1, c);
    throw SysError{EINVAL, "TUNSETIFF", "invalid interface name '" + shown + "': " + why};
  };
  if (name.empty()) fail("the name is empty");
  if (name.size() >= IFNAMSIZ) {
    fail("longer than " + std::to_string(IFNAMSIZ - 1) + " bytes (IFNAMSIZ is " + std::to_string(IFNAMSIZ) + ")");
  }
  if (name == "." || name == "..") fail("'.' and '..' are not interface names");
  for (const char c : name) {
    if (c == '\0') fail("it contains a NUL character");
    if (c == '/' || c == ':') fail(std::string("it contains '") + c + "'");
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') fail("it contains whitespace");
  }
  const size_t pct = name.find('%');
  if (pct != std::string::npos) {
    if (!allowTemplate) fail("'%' is only allowed in a name template such as 'tun%d'");
    if (pct + 1 >= name.size() || name[pct + 1] != 'd' || name.find('%', pct + 2) != std::string::npos) {
      fail("a name template has exactly one '%d', such as 'tun%d'");
    }
  }
}

Rtnl::Rtnl() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) {
    const int err = errno;
    throw SysError{err, "socket", "cannot open a NETLINK_ROUTE socket: " + ErrnoText(err)};
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    const int err = errno;
    close(fd_);
    throw SysError{err, "bind", "cannot bind a NETLINK_ROUTE socket: " + ErrnoText(err)};
  }
  // Best effort: extended ACKs carry the kernel's own explanation of a failure, and capped
  // ACKs keep them small. Older kernels refuse the options; the ACK errno still works.
  int one = 1;
  setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  // rtnetlink answers synchronously inside sendto(), so the reply is already queued when we
  // read it; the timeout only guarantees that a broken kernel cannot hang the event loop.
  timeval tv{5, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

Rtnl::~Rtnl() {
  if (fd_ >= 0) close(fd_);
}

int Rtnl::Transact(std::vector<uint8_t>& request, std::string* extack,
                   void (*onReply)(const void* msg, size_t len, void* ctx), void* ctx) {
  auto* req = reinterpret_cast<nlmsghdr*>(request.data());
  req->nlmsg_seq = ++seq_;
  req->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd_, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return errno;

  // 32 KiB holds any single RTM_NEWLINK reply (a few KiB with statistics) with room to spare.
  alignas(nlmsghdr) static thread_local uint8_t buf[32768];
  for (;;) {
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? ETIMEDOUT : errno;
    }
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != req->nlmsg_seq) continue;  // a stale answer to an earlier request
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EPROTO;
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (extack != nullptr && (h->nlmsg_flags & NLM_F_ACK_TLVS)) {
          // The TLVs follow the echoed request: just its header when capped, all of it if not.
          size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
          if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
          const auto* base = reinterpret_cast<const uint8_t*>(h);
          while (off + sizeof(nlattr) <= h->nlmsg_len) {
            const auto* a = reinterpret_cast<const nlattr*>(base + off);
            if (a->nla_len < sizeof(nlattr) || off + a->nla_len > h->nlmsg_len) break;
            if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a->nla_len > NLA_HDRLEN) {
              const char* s = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
              *extack = std::string(s, strnlen(s, a->nla_len - NLA_HDRLEN));
            }
            off += NLA_ALIGN(a->nla_len);
          }
        }
        return -e->error;  // 0 is the ACK
      }
      if (onReply != nullptr) onReply(h, h->nlmsg_len, ctx);
    }
  }
}

std::optional<LinkInfo> Rtnl::GetLink(const std::string& name) {
  ValidateIfName(name, false);
  Msg m(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  m.Put(ifi);
  m.AttrStr(IFLA_IFNAME, name);
  // Skip statistics and VF data we do not read.
  m.AttrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);

  LinkInfo info;
  bool found = false;
  struct Ctx {
    LinkInfo* info;
    bool* found;
  } ctx{&info, &found};
  std::string extack;
  const int err = Transact(
      m.bytes(), &extack,
      [](const void* msg, size_t, void* p) {
        auto* c = static_cast<Ctx*>(p);
        const auto* h = static_cast<const nlmsghdr*>(msg);
        if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
        const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
        c->info->index = ifi->ifi_index;
        c->info->flags = ifi->ifi_flags;
        *c->found = true;
        int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
        for (const rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
          const size_t plen = RTA_PAYLOAD(a);
          const auto* data = static_cast<const uint8_t*>(RTA_DATA(a));
          switch (a->rta_type) {
            case IFLA_IFNAME:
              c->info->name = std::string(reinterpret_cast<const char*>(data), strnlen(reinterpret_cast<const char*>(data), plen));
              break;
            case IFLA_MTU:
              if (plen >= 4) std::memcpy(&c->info->mtu, data, 4);
              break;
            case IFLA_ADDRESS:
              c->info->address.assign(data, data + plen);
              break;
            case IFLA_LINKINFO: {
              int ilen = static_cast<int>(plen);
              for (const rtattr* b = static_cast<const rtattr*>(RTA_DATA(a)); RTA_OK(b, ilen); b = RTA_NEXT(b, ilen)) {
                if (b->rta_type == IFLA_INFO_KIND) {
                  const char* s = static_cast<const char*>(RTA_DATA(b));
                  c->info->kind = std::string(s, strnlen(s, RTA_PAYLOAD(b)));
                }
              }
              break;
            }
            default:
              break;
          }
        }
      },
      &ctx);
  if (err == ENODEV) return std::nullopt;
  if (err != 0) {
    throw SysError{err, "RTM_GETLINK", WithExtack("cannot look up interface " + name + ": " + ErrnoText(err), extack)};
  }
  if (!found) throw SysError{EPROTO, "RTM_GETLINK", "cannot look up interface " + name + ": no reply"};
  return info;
}

void Rtnl::SetLink(int index, const std::string& name, const LinkChange& change) {
  Msg m(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  if (change.up.has_value()) {
    ifi.ifi_change = IFF_UP;
    ifi.ifi_flags = *change.up ? IFF_UP : 0;
  }
  m.Put(ifi);
  if (change.mtu.has_value()) m.AttrU32(IFLA_MTU, *change.mtu);
  if (change.address.has_value()) m.Attr(IFLA_ADDRESS, change.address->data(), change.address->size());
  std::string extack;
  const int err = Transact(m.bytes(), &extack);
  if (err != 0) {
    std::string what = "cannot configure " + name;
    if (change.mtu.has_value()) what += " (mtu " + std::to_string(*change.mtu) + ")";
    std::string msg = what + ": " + ErrnoText(err);
    if (err == EPERM) msg += ". Configuring interfaces needs CAP_NET_ADMIN: run as root";
    if (err == EINVAL && change.mtu.has_value()) msg += ". The MTU may be outside the device's range (68..65535 for TUN/TAP)";
    throw SysError{err, "RTM_NEWLINK", WithExtack(msg, extack)};
  }
}

void Rtnl::AddAddress(int index, const std::string& name, int family, const uint8_t* address, unsigned prefixLength) {
  const size_t alen = family == AF_INET ? 4 : 16;
  Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(family);
  ifa.ifa_prefixlen = static_cast<uint8_t>(prefixLength);
  ifa.ifa_index = static_cast<uint32_t>(index);
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  const uint32_t flags = family == AF_INET6 ? IFA_F_NODAD : 0;
  ifa.ifa_flags = static_cast<uint8_t>(flags);
  m.Put(ifa);
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links
  // and must equal IFA_LOCAL for the prefix route to be the usual subnet route.
  m.Attr(IFA_LOCAL, address, alen);
  m.Attr(IFA_ADDRESS, address, alen);
  if (flags != 0) m.AttrU32(IFA_FLAGS, flags);
  std::string extack;
  const int err = Transact(m.bytes(), &extack);
  if (err != 0) {
    char text[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, address, text, sizeof(text));
    std::string msg = "cannot add address " + std::string(text) + "/" + std::to_string(prefixLength) +
                      " to " + name + ": " + ErrnoText(err);
    if (err == EPERM) msg += ". Configuring interfaces needs CAP_NET_ADMIN: run as root";
    if (err == EACCES && family == AF_INET6) msg += ". IPv6 may be disabled on this interface (disable_ipv6, or an MTU below 1280)";
    throw SysError{err, "RTM_NEWADDR", WithExtack(msg, extack)};
  }
}

void Rtnl::DelLink(int index, const std::string& name) {
  Msg m(RTM_DELLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  m.Put(ifi);
  std::string extack;
  const int err = Transact(m.bytes(), &extack);
  if (err != 0) {
    std::string msg = "cannot delete " + name + ": " + ErrnoText(err);
    if (err == EPERM) msg += ". Deleting interfaces needs CAP_NET_ADMIN: run as root";
    throw SysError{err, "RTM_DELLINK", WithExtack(msg, extack)};
  }
}

}  // namespace netstack
