// OwnerMap: DataSync's Uid and Gid options NAME and BOTH. A source id is
// turned into its user (group) name and the name back into the id it has at
// the destination. NAME gives ids whose name is unknown at either end the
// id of "nobody" (65534); BOTH keeps such ids as they are. INT_VALUE and NONE
// leave ids alone. Both ends resolve names through this machine's user and
// group databases (an agent on each side will do its own half). Results are
// cached; thread-safe.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <unordered_map>

#include "ferry/options/task_options.h"
#include "ferry/storage/entry.h"

namespace ferry {

inline constexpr uint32_t kNobodyId = 65534;

class OwnerMap {
 public:
  OwnerMap(OwnerMode uid_mode, OwnerMode gid_mode);

  // True when Map() can change anything.
  bool active() const { return by_name(uid_mode_) || by_name(gid_mode_); }
  void Map(Entry* entry);

  uint32_t MapUid(uint32_t uid);
  uint32_t MapGid(uint32_t gid);

 private:
  static bool by_name(OwnerMode m) {
    return m == OwnerMode::kName || m == OwnerMode::kBoth;
  }

  const OwnerMode uid_mode_;
  const OwnerMode gid_mode_;
  std::mutex mu_;
  std::unordered_map<uint32_t, uint32_t> uids_;  // GUARDED_BY(mu_)
  std::unordered_map<uint32_t, uint32_t> gids_;  // GUARDED_BY(mu_)
};

}  // namespace ferry
