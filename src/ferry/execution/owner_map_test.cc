#include "ferry/execution/owner_map.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>

#include <cstdint>

namespace ferry {
namespace {

// A user id and a group id no name is known for on this machine.
uint32_t UnknownUid() {
  for (uint32_t id = 3999999000u;; ++id) {
    if (::getpwuid(id) == nullptr) return id;
  }
}
uint32_t UnknownGid() {
  for (uint32_t id = 3999999000u;; ++id) {
    if (::getgrgid(id) == nullptr) return id;
  }
}

TEST(OwnerMapTest, IntValueAndNoneLeaveIdsAlone) {
  for (OwnerMode mode : {OwnerMode::kIntValue, OwnerMode::kNone}) {
    OwnerMap map(mode, mode);
    EXPECT_FALSE(map.active());
    EXPECT_EQ(map.MapUid(UnknownUid()), UnknownUid());
    EXPECT_EQ(map.MapGid(12345), 12345u);
    Entry e;
    e.uid = UnknownUid();
    e.gid = UnknownGid();
    map.Map(&e);
    EXPECT_EQ(e.uid, UnknownUid());
    EXPECT_EQ(e.gid, UnknownGid());
  }
}

TEST(OwnerMapTest, KnownNamesMapToTheirIds) {
  OwnerMap map(OwnerMode::kName, OwnerMode::kName);
  EXPECT_TRUE(map.active());
  ASSERT_NE(::getpwuid(0), nullptr) << "no root user";
  EXPECT_EQ(map.MapUid(0), 0u);
  ASSERT_NE(::getgrgid(0), nullptr) << "no root group";
  EXPECT_EQ(map.MapGid(0), 0u);
}

TEST(OwnerMapTest, NameGivesUnknownIdsToNobody) {
  OwnerMap map(OwnerMode::kName, OwnerMode::kName);
  EXPECT_EQ(map.MapUid(UnknownUid()), kNobodyId);
  EXPECT_EQ(map.MapGid(UnknownGid()), kNobodyId);
  Entry e;
  e.uid = UnknownUid();
  e.gid = 0;
  map.Map(&e);
  EXPECT_EQ(e.uid, kNobodyId);
  EXPECT_EQ(e.gid, 0u);
  // Asked again: the same answer (from the cache).
  EXPECT_EQ(map.MapUid(UnknownUid()), kNobodyId);
}

TEST(OwnerMapTest, BothKeepsUnknownIds) {
  OwnerMap map(OwnerMode::kBoth, OwnerMode::kBoth);
  EXPECT_TRUE(map.active());
  EXPECT_EQ(map.MapUid(UnknownUid()), UnknownUid());
  EXPECT_EQ(map.MapGid(UnknownGid()), UnknownGid());
  EXPECT_EQ(map.MapUid(0), 0u);
}

TEST(OwnerMapTest, UidAndGidModesAreIndependent) {
  OwnerMap map(OwnerMode::kIntValue, OwnerMode::kName);
  EXPECT_TRUE(map.active());
  Entry e;
  e.uid = UnknownUid();
  e.gid = UnknownGid();
  map.Map(&e);
  EXPECT_EQ(e.uid, UnknownUid());
  EXPECT_EQ(e.gid, kNobodyId);
}

}  // namespace
}  // namespace ferry
