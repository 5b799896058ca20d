#include "ferry/storage/staging.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>

namespace ferry {

uint32_t HostTag() {
  // The boot and the PID namespace: two processes with equal tags see the
  // same PIDs, so one may ask the kernel whether the other still runs.
  static const uint32_t tag = [] {
    std::string id;
    char buf[128];
    if (FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "r")) {
      size_t n = std::fread(buf, 1, sizeof(buf), f);
      id.assign(buf, n);
      std::fclose(f);
    }
    struct stat st;
    if (::stat("/proc/self/ns/pid", &st) == 0) {
      id += ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    }
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char c : id) h = (h ^ c) * 16777619u;
    return h == 0 ? 1u : h;
  }();
  return tag;
}

std::string NewTempName() {
  // One counter for the process: several backends may share a root.
  static std::atomic<uint64_t> counter{0};
  static const pid_t pid = ::getpid();
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%.*s%x-%x-%llx",
                static_cast<int>(kTempPrefix.size()), kTempPrefix.data(),
                HostTag(), static_cast<unsigned>(pid),
                static_cast<unsigned long long>(counter.fetch_add(1)));
  return buf;
}

bool StagingWriterGone(std::string_view name) {
  std::string_view rest = name.substr(kTempPrefix.size());
  uint64_t parts[3];
  int n = 0;
  while (n < 3) {
    size_t dash = rest.find('-');
    std::string_view part = rest.substr(0, dash);
    auto [ptr, ec] =
        std::from_chars(part.data(), part.data() + part.size(), parts[n], 16);
    if (ec != std::errc() || ptr != part.data() + part.size()) return false;
    ++n;
    if (dash == std::string_view::npos) break;
    rest = rest.substr(dash + 1);
  }
  // Only a name of this host and PID namespace says whose it is.
  if (n != 3 || parts[0] != HostTag() || parts[1] == 0 || parts[1] > 4194304) {
    return false;
  }
  return ::kill(static_cast<pid_t>(parts[1]), 0) != 0 && errno == ESRCH;
}

Status CleanupTempFile(Backend& backend, const Entry& staging,
                       const StagingCleanup& cleanup) {
  const std::string_view name = staging.path.name();
  if (!IsFerryTempName(name)) return Status::Ok();
  const auto mtime = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(staging.mtime.Nanos())));
  std::string why;
  if (StagingWriterGone(name)) {
    why = "left by an interrupted run";
  } else if (cleanup.now - mtime >= cleanup.max_age) {
    why = "untouched for " +
          std::to_string(std::chrono::duration_cast<std::chrono::minutes>(
                             cleanup.now - mtime)
                             .count()) +
          " minutes";
  } else {
    return Status::Ok();
  }
  Status st = backend.Remove(staging.path);
  if (st.IsNotFound()) return Status::Ok();
  FERRY_RETURN_IF_ERROR(st);
  if (cleanup.on_removed) {
    cleanup.on_removed(staging.path, "temporary file " + why);
  }
  return Status::Ok();
}

}  // namespace ferry

// LeakSanitizer's suppressions for the whole program (one definition may
// exist; this file is in every binary with a file-system backend).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FERRY_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(FERRY_LSAN)
// Not ferry's leaks:
// - libsmbclient keeps process-wide state it never frees (its debug log's
//   name, its configuration), allocated through talloc, and each thread's
//   talloc stack frame (libsamba-util: its thread key has no destructor, as
//   in Samba's own pthread functions);
// - libnfs: the handle of a file on a connection that broke (libnfs
//   cannot close it there; see nfs_backend.cc) is left, a few bytes.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libsmbclient.so\n"
         "leak:libsamba-debug-samba4.so\n"
         "leak:libtalloc.so\n"
         "leak:libsmbconf.so\n"
         "leak:libsamba-util.so\n"
         "leak:libnfs.so\n";
}
#endif
