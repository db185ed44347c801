#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "sys_error.h"

namespace netstack {

std::string NetnsPath(const std::string& netns) {
  if (!netns.empty() && netns[0] == '/') return netns;
  // `ip netns add NAME` creates /var/run/netns/NAME; anything that is not a plain file name
  // there would escape the directory.
  if (netns.empty() || netns == "." || netns == ".." || netns.find('/') != std::string::npos ||
      netns.find('\0') != std::string::npos) {
    throw SysError{EINVAL, "setns",
                   "invalid network namespace name '" + netns +
                       "': give a name under /var/run/netns (as `ip netns add NAME` creates) or an absolute path"};
  }
  return "/var/run/netns/" + netns;
}

NetnsScope::NetnsScope(const std::string& netns) {
  if (netns.empty()) return;
  const std::string path = NetnsPath(netns);
  const int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    const int err = errno;
    std::string msg = "cannot open network namespace " + path + ": " + ErrnoText(err);
    if (err == ENOENT) msg += ". Create it first: ip netns add " + netns;
    if (err == EACCES || err == EPERM) msg += ". Run as root";
    throw SysError{err, "open", msg};
  }
  // thread-self, not self: /proc/self/ns/net is the main thread's namespace, which differs
  // from ours if this ever runs on another thread.
  original_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_ < 0) {
    const int err = errno;
    close(target);
    throw SysError{err, "open", "cannot open /proc/thread-self/ns/net to return to the current network namespace: " +
                                    ErrnoText(err) + ". Is /proc mounted?"};
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    const int err = errno;
    close(target);
    close(original_);
    original_ = -1;
    std::string msg = "cannot enter network namespace " + path + ": " + ErrnoText(err);
    if (err == EPERM) msg += ". Entering a network namespace needs CAP_SYS_ADMIN: run as root";
    if (err == EINVAL) msg += ". The file is not a network namespace";
    throw SysError{err, "setns", msg};
  }
  close(target);
}

NetnsScope::~NetnsScope() {
  if (original_ < 0) return;
  if (setns(original_, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "netstack: fatal: cannot return to the original network namespace: %s\n",
                 ErrnoText(errno).c_str());
    std::abort();
  }
  close(original_);
}

}  // namespace netstack
