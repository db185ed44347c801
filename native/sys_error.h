// A failed system call, carried up to the N-API boundary where it becomes a JS Error with
// `code` ('EPERM', ...), `errno` and `syscall`. The message names the cause and, where one
// exists, the remedy: these errors reach people running the CLI, not only programmers.
#pragma once

#include <cstring>
#include <string>

namespace netstack {

struct SysError {
  int err;              // positive errno value
  std::string syscall;  // 'TUNSETIFF', 'setns', 'RTM_NEWADDR', ...
  std::string message;  // complete, human-readable
};

// 'EPERM' for EPERM; glibc >= 2.32 knows every name.
inline std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : "E" + std::to_string(err);
}

// "permission denied (EPERM)": the strerror text in lower case, then the code.
inline std::string ErrnoText(int err) {
  std::string text = strerror(err);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && (text.size() < 2 || !(text[1] >= 'A' && text[1] <= 'Z'))) {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text + " (" + ErrnoName(err) + ")";
}

}  // namespace netstack
