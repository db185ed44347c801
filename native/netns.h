// Runs a piece of code inside another network namespace on the calling thread.
//
// setns(CLONE_NEWNET) changes the namespace of the calling thread only, so Node's other threads
// (libuv pool, V8 platform workers) never see it; the main thread switches back before the
// scope ends. Sockets and TUN devices opened meanwhile stay bound to the target namespace:
// a socket takes the namespace of its creator at socket() time, and /dev/net/tun at open().
#pragma once

#include <string>

namespace netstack {

// "/var/run/netns/NAME" for a bare name, the path itself for an absolute path; throws SysError
// (EINVAL) for a name that is not a plain file name.
std::string NetnsPath(const std::string& netns);

class NetnsScope {
 public:
  // An empty `netns` is the current namespace: nothing is switched.
  explicit NetnsScope(const std::string& netns);
  // Switches back; aborts the process if that fails, because the thread would otherwise go on
  // creating every later socket in the wrong namespace.
  ~NetnsScope();

  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  int original_ = -1;
};

}  // namespace netstack
