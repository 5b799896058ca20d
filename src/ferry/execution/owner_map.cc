#include "ferry/execution/owner_map.h"

#include <grp.h>
#include <pwd.h>

#include <optional>
#include <string>
#include <vector>

namespace ferry {
namespace {

std::optional<std::string> UserName(uid_t uid) {
  std::vector<char> buf(4096);
  struct passwd pw;
  struct passwd* out = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) != 0 ||
      out == nullptr) {
    return std::nullopt;
  }
  return std::string(out->pw_name);
}

std::optional<uid_t> UserId(const std::string& name) {
  std::vector<char> buf(4096);
  struct passwd pw;
  struct passwd* out = nullptr;
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &out) != 0 ||
      out == nullptr) {
    return std::nullopt;
  }
  return out->pw_uid;
}

std::optional<std::string> GroupName(gid_t gid) {
  std::vector<char> buf(4096);
  struct group gr;
  struct group* out = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &out) != 0 ||
      out == nullptr) {
    return std::nullopt;
  }
  return std::string(out->gr_name);
}

std::optional<gid_t> GroupId(const std::string& name) {
  std::vector<char> buf(4096);
  struct group gr;
  struct group* out = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &out) != 0 ||
      out == nullptr) {
    return std::nullopt;
  }
  return out->gr_gid;
}

}  // namespace

OwnerMap::OwnerMap(OwnerMode uid_mode, OwnerMode gid_mode)
    : uid_mode_(uid_mode), gid_mode_(gid_mode) {}

uint32_t OwnerMap::MapUid(uint32_t uid) {
  if (!by_name(uid_mode_)) return uid;
  std::lock_guard lock(mu_);
  auto it = uids_.find(uid);
  if (it != uids_.end()) return it->second;
  std::optional<uid_t> mapped;
  if (auto name = UserName(uid)) mapped = UserId(*name);
  uint32_t result =
      mapped ? *mapped : (uid_mode_ == OwnerMode::kName ? kNobodyId : uid);
  uids_.emplace(uid, result);
  return result;
}

uint32_t OwnerMap::MapGid(uint32_t gid) {
  if (!by_name(gid_mode_)) return gid;
  std::lock_guard lock(mu_);
  auto it = gids_.find(gid);
  if (it != gids_.end()) return it->second;
  std::optional<gid_t> mapped;
  if (auto name = GroupName(gid)) mapped = GroupId(*name);
  uint32_t result =
      mapped ? *mapped : (gid_mode_ == OwnerMode::kName ? kNobodyId : gid);
  gids_.emplace(gid, result);
  return result;
}

void OwnerMap::Map(Entry* entry) {
  entry->uid = MapUid(entry->uid);
  entry->gid = MapGid(entry->gid);
}

}  // namespace ferry
