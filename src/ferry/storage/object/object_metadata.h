// How ferry keeps file-system metadata in an object's user metadata, in the
// format AWS DataSync, S3 File Gateway and FSx for Lustre share (so objects
// one of them wrote restore their owner, mode and times when ferry copies
// them to a file system, and the other way round):
//   file-permissions  st_mode in octal, type and permission bits: "0100644"
//                     (file), "040755" (directory), "0120777" (symlink)
//   file-owner        uid, decimal
//   file-group        gid, decimal
//   file-mtime        nanoseconds since the epoch with an "ns" suffix
//   file-atime        ("1600000000123456789ns"); without it, milliseconds
//   user-agent        who wrote the object ("ferry")
// plus ferry's own content digest:
//   ferry-digest      "<algorithm>:<hex>" ("XXH3-128:00ff...", see digest.h)
// A symbolic link is an object whose content is the target and whose
// file-permissions say S_IFLNK; a directory's metadata sits on its marker
// object "dir/".
//
// Metadata is untrusted input: every value is length-bounded and parsed
// strictly; a malformed value counts as absent (the defaults apply), never
// as an error. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "ferry/base/digest.h"
#include "ferry/storage/entry.h"
#include "ferry/storage/object/object_store.h"

namespace ferry {

inline constexpr std::string_view kMetaPermissions = "file-permissions";
inline constexpr std::string_view kMetaOwner = "file-owner";
inline constexpr std::string_view kMetaGroup = "file-group";
inline constexpr std::string_view kMetaMtime = "file-mtime";
inline constexpr std::string_view kMetaAtime = "file-atime";
inline constexpr std::string_view kMetaUserAgent = "user-agent";
inline constexpr std::string_view kMetaDigest = "ferry-digest";
inline constexpr std::string_view kUserAgent = "ferry";

// Longest symbolic link target an object may hold (Linux's PATH_MAX).
inline constexpr uint64_t kMaxLinkTarget = 4096;

// What an object's metadata says, each field only when present and valid.
struct ObjectAttributes {
  std::optional<uint32_t> mode;  // type and permission bits (st_mode)
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<FileTime> mtime;
  std::optional<FileTime> atime;
  Digest digest;  // empty when absent
};

ObjectAttributes ParseObjectAttributes(const ObjectMetadata& metadata);

// Parses one value; nullopt when malformed or out of range.
std::optional<uint32_t> ParseFileMode(std::string_view text);
std::optional<uint32_t> ParseId(std::string_view text);
std::optional<FileTime> ParseFileTime(std::string_view text);
std::optional<Digest> ParseDigestValue(std::string_view text);

std::string FormatFileMode(uint32_t mode);
std::string FormatFileTime(FileTime t);
std::string FormatDigestValue(const Digest& digest);

// The entry an object describes. `marker`: the object is a directory marker
// ("dir/"). Objects other tools wrote read as files of mode 0644 (folders
// 0755) owned by 0, modified at their Last-Modified time. The link target is
// left for the caller (it is the object's content).
Entry EntryFromObject(const RelPath& path, bool marker, uint64_t size,
                      const std::string& etag, FileTime last_modified,
                      const ObjectMetadata& metadata);

// Writes into `metadata` what `policy` selects of `src` (and always the
// type of `kind`, for links and folders), and the user agent.
void SetPosixMetadata(const Entry& src, EntryKind kind,
                      const MetadataPolicy& policy, ObjectMetadata* metadata);
// Sets (or, for an empty digest, removes) ferry-digest.
void SetDigestMetadata(const Digest& digest, ObjectMetadata* metadata);

// Bytes S3 counts against its 2 KB limit: names plus values.
size_t MetadataBytes(const ObjectMetadata& metadata);

// OK when `tags` fit the store's limits; otherwise InvalidArgument saying
// which tag breaks which limit (count, empty key, key or value length in
// Unicode characters, text that is not UTF-8).
Status CheckObjectTags(const ObjectTags& tags, const ObjectStoreLimits& limits);

}  // namespace ferry
