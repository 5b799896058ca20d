#include "ferry/base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ferry {
namespace {

Status Failed(const std::string& what, const std::string& path, int err) {
  return Status(StatusCode::kIoError,
                "cannot " + what + " " + path + ": " + std::strerror(err), err);
}

}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& text,
                           unsigned mode) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Failed("write", tmp, errno);
  // open() applied the umask; the mode asked for is what the file gets.
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::close(fd);
    return Failed("set the mode of", tmp, err);
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Failed("write", tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return Failed("write", tmp, err);
  }
  if (::close(fd) != 0) return Failed("write", tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Failed("rename " + tmp + " to", path, errno);
  }
  return Status::Ok();
}

Result<std::string> ReadTextFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("cannot read " + path);
    return Failed("read", path, err);
  }
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Failed("read", path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes) {
      ::close(fd);
      return Status::InvalidArgument(path + " is larger than " +
                                     std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return text;
}

}  // namespace ferry
