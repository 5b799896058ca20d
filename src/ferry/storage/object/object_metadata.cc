#include "ferry/storage/object/object_metadata.h"

#include <sys/stat.h>

#include <limits>
#include <string>

#include "ferry/base/rel_path.h"
#include "ferry/base/utf8.h"

namespace ferry {
namespace {

constexpr size_t kMaxNumberChars = 24;

// Decimal digits only, no sign, at most `max` in value.
std::optional<uint64_t> ParseUnsigned(std::string_view text, uint64_t max,
                                      int base = 10) {
  if (text.empty() || text.size() > kMaxNumberChars) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else {
      return std::nullopt;
    }
    if (d >= base) return std::nullopt;
    if (v > (max - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
      return std::nullopt;
    }
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  return v;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t DigestSize(DigestAlgorithm algo) {
  switch (algo) {
    case DigestAlgorithm::kXxh3_128:
      return 16;
    case DigestAlgorithm::kSha256:
      return 32;
  }
  return 0;
}

const std::string* Find(const ObjectMetadata& m, std::string_view name) {
  auto it = m.find(std::string(name));
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

std::optional<uint32_t> ParseFileMode(std::string_view text) {
  auto v = ParseUnsigned(text, 0177777, 8);
  if (!v) return std::nullopt;
  const uint32_t mode = static_cast<uint32_t>(*v);
  const uint32_t type = mode & S_IFMT;
  if (type != 0 && type != S_IFREG && type != S_IFDIR && type != S_IFLNK &&
      type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
      type != S_IFBLK) {
    return std::nullopt;
  }
  return mode;
}

std::optional<uint32_t> ParseId(std::string_view text) {
  auto v = ParseUnsigned(text, std::numeric_limits<uint32_t>::max());
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

std::optional<FileTime> ParseFileTime(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const bool nanos = text.size() >= 2 && text.substr(text.size() - 2) == "ns";
  if (nanos) text.remove_suffix(2);
  constexpr uint64_t kMaxNanos = std::numeric_limits<int64_t>::max();
  std::optional<uint64_t> v =
      ParseUnsigned(text, nanos ? kMaxNanos : kMaxNanos / 1000000);
  if (!v) return std::nullopt;
  const uint64_t ns = nanos ? *v : *v * 1000000;
  int64_t sec = static_cast<int64_t>(ns / 1000000000);
  int64_t nsec = static_cast<int64_t>(ns % 1000000000);
  if (negative) {
    sec = -sec;
    nsec = -nsec;
    if (nsec < 0) {
      nsec += 1000000000;
      sec -= 1;
    }
  }
  return FileTime{sec, static_cast<uint32_t>(nsec)};
}

std::optional<Digest> ParseDigestValue(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon > 16 || text.size() > 128) {
    return std::nullopt;
  }
  auto algo = ParseDigestAlgorithm(text.substr(0, colon));
  if (!algo.ok()) return std::nullopt;
  std::string_view hex = text.substr(colon + 1);
  const size_t size = DigestSize(*algo);
  if (size == 0 || hex.size() != 2 * size) return std::nullopt;
  Digest d;
  d.algorithm = *algo;
  d.size = static_cast<uint8_t>(size);
  for (size_t i = 0; i < size; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return d;
}

std::string FormatFileMode(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode & 0177777);
  return buf;
}

std::string FormatFileTime(FileTime t) {
  // Nanoseconds since the epoch, exact for 1678..2262 (int64 nanoseconds).
  const __int128 ns = static_cast<__int128>(t.sec) * 1000000000 + t.nsec;
  const bool negative = ns < 0;
  unsigned __int128 u = negative ? static_cast<unsigned __int128>(-ns)
                                 : static_cast<unsigned __int128>(ns);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + u % 10));
    u /= 10;
  } while (u > 0);
  return (negative ? "-" : "") + digits + "ns";
}

std::string FormatDigestValue(const Digest& digest) {
  return std::string(DigestAlgorithmName(digest.algorithm)) + ":" +
         digest.Hex();
}

ObjectAttributes ParseObjectAttributes(const ObjectMetadata& metadata) {
  ObjectAttributes a;
  if (const std::string* v = Find(metadata, kMetaPermissions)) {
    a.mode = ParseFileMode(*v);
  }
  if (const std::string* v = Find(metadata, kMetaOwner)) a.uid = ParseId(*v);
  if (const std::string* v = Find(metadata, kMetaGroup)) a.gid = ParseId(*v);
  if (const std::string* v = Find(metadata, kMetaMtime)) {
    a.mtime = ParseFileTime(*v);
  }
  if (const std::string* v = Find(metadata, kMetaAtime)) {
    a.atime = ParseFileTime(*v);
  }
  if (const std::string* v = Find(metadata, kMetaDigest)) {
    if (auto d = ParseDigestValue(*v)) a.digest = *d;
  }
  return a;
}

Entry EntryFromObject(const RelPath& path, bool marker, uint64_t size,
                      const std::string& etag, FileTime last_modified,
                      const ObjectMetadata& metadata) {
  const ObjectAttributes a = ParseObjectAttributes(metadata);
  Entry e;
  e.path = path;
  e.kind = EntryKind::kFile;
  uint32_t type = a.mode ? (*a.mode & S_IFMT) : 0;
  if (marker) {
    e.kind = EntryKind::kDirectory;
  } else if (type == S_IFLNK) {
    e.kind = EntryKind::kSymlink;
  }
  // A type the object cannot be (a marker that says "file", a key that says
  // "directory" or "device") does not count: the bits still do.
  const uint32_t default_mode = e.kind == EntryKind::kDirectory ? 0755
                                : e.kind == EntryKind::kSymlink ? 0777
                                                                : 0644;
  e.mode = a.mode ? (*a.mode & 07777) : default_mode;
  e.uid = a.uid.value_or(0);
  e.gid = a.gid.value_or(0);
  e.mtime = a.mtime.value_or(last_modified);
  e.atime = a.atime.value_or(e.mtime);
  // Whole seconds: listings give milliseconds, HEAD and GET answers seconds.
  e.ctime = FileTime{last_modified.sec, 0};
  e.size = e.kind == EntryKind::kFile ? size : 0;
  e.allocated = e.size;
  e.etag = etag;
  if (e.kind == EntryKind::kFile) e.digest = a.digest;
  return e;
}

void SetPosixMetadata(const Entry& src, EntryKind kind,
                      const MetadataPolicy& policy, ObjectMetadata* metadata) {
  uint32_t type = 0;
  switch (kind) {
    case EntryKind::kDirectory:
      type = S_IFDIR;
      break;
    case EntryKind::kSymlink:
      type = S_IFLNK;
      break;
    default:
      type = S_IFREG;
      break;
  }
  const std::string* old = Find(*metadata, kMetaPermissions);
  std::optional<uint32_t> old_mode = old ? ParseFileMode(*old) : std::nullopt;
  if (policy.mode) {
    (*metadata)[std::string(kMetaPermissions)] =
        FormatFileMode(type | (src.mode & 07777));
  } else if (old_mode) {
    (*metadata)[std::string(kMetaPermissions)] =
        FormatFileMode(type | (*old_mode & 07777));
  } else if (kind != EntryKind::kFile) {
    (*metadata)[std::string(kMetaPermissions)] =
        FormatFileMode(type | (kind == EntryKind::kSymlink ? 0777 : 0755));
  }
  if (policy.uid)
    (*metadata)[std::string(kMetaOwner)] = std::to_string(src.uid);
  if (policy.gid)
    (*metadata)[std::string(kMetaGroup)] = std::to_string(src.gid);
  if (policy.mtime) {
    (*metadata)[std::string(kMetaMtime)] = FormatFileTime(src.mtime);
  }
  if (policy.atime) {
    (*metadata)[std::string(kMetaAtime)] = FormatFileTime(src.atime);
  }
  (*metadata)[std::string(kMetaUserAgent)] = std::string(kUserAgent);
}

void SetDigestMetadata(const Digest& digest, ObjectMetadata* metadata) {
  if (digest.empty()) {
    metadata->erase(std::string(kMetaDigest));
  } else {
    (*metadata)[std::string(kMetaDigest)] = FormatDigestValue(digest);
  }
}

size_t MetadataBytes(const ObjectMetadata& metadata) {
  size_t n = 0;
  for (const auto& [name, value] : metadata) n += name.size() + value.size();
  return n;
}

Status CheckObjectTags(const ObjectTags& tags,
                       const ObjectStoreLimits& limits) {
  if (limits.max_tags == 0 && !tags.empty()) {
    return Status::NotSupported("the store keeps no object tags");
  }
  if (tags.size() > limits.max_tags) {
    return Status::InvalidArgument(
        std::to_string(tags.size()) + " object tags; the store keeps " +
        (limits.max_tags == 0 ? std::string("none")
                              : "at most " + std::to_string(limits.max_tags)));
  }
  // Keys are shown cut short: they are untrusted and may be long.
  auto shown = [](std::string_view key) {
    return "\"" + EscapeForDisplay(key.substr(0, 64)) +
           (key.size() > 64 ? "...\"" : "\"");
  };
  for (const auto& [key, value] : tags) {
    if (key.empty())
      return Status::InvalidArgument("an object tag without a key");
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
      return Status::InvalidArgument("object tag " + shown(key) +
                                     ": the key and value must be UTF-8");
    }
    if (Utf8CodePoints(key) > limits.max_tag_key_chars) {
      return Status::InvalidArgument("object tag key " + shown(key) + " is " +
                                     std::to_string(Utf8CodePoints(key)) +
                                     " characters; at most " +
                                     std::to_string(limits.max_tag_key_chars));
    }
    if (Utf8CodePoints(value) > limits.max_tag_value_chars) {
      return Status::InvalidArgument(
          "the value of object tag " + shown(key) + " is " +
          std::to_string(Utf8CodePoints(value)) + " characters; at most " +
          std::to_string(limits.max_tag_value_chars));
    }
  }
  return Status::Ok();
}

}  // namespace ferry
