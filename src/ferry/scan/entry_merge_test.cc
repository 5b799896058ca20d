#include "ferry/scan/entry_merge.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

// One step of a merge, written "src|dst" ("-" for a missing side).
std::string Pair(const std::optional<Entry>& s, const std::optional<Entry>& d) {
  return (s ? s->path.str() : "-") + "|" + (d ? d->path.str() : "-");
}

struct Trees {
  std::shared_ptr<MemoryStore> src = std::make_shared<MemoryStore>();
  std::shared_ptr<MemoryStore> dst = std::make_shared<MemoryStore>();
  std::unique_ptr<Backend> src_backend;
  std::unique_ptr<Backend> dst_backend;
  void Open() {
    src_backend = OpenMemoryBackend(src);
    dst_backend = OpenMemoryBackend(dst);
  }
};

TEST(EntryMergeTest, PairsEqualPathsAndKeepsTheOrder) {
  Trees t;
  t.src->PutFile("a", "1");
  t.src->PutFile("b/x", "1");
  t.src->PutFile("c", "1");
  t.dst->PutFile("a", "2");
  t.dst->PutFile("b-c", "2");
  t.dst->PutFile("b/y", "2");
  t.dst->PutFile("d", "2");
  t.Open();
  Scanner src(t.src_backend.get(), {});
  Scanner dst(t.dst_backend.get(), {});
  ASSERT_TRUE(src.Start().ok());
  ASSERT_TRUE(dst.Start().ok());
  EntryMerge merge(&src, &dst);
  std::vector<std::string> got;
  std::optional<Entry> s;
  std::optional<Entry> d;
  while (merge.Next(&s, &d).value()) got.push_back(Pair(s, d));
  // "b/..." sorts before "b-c": a folder's contents follow it directly.
  EXPECT_EQ(got, (std::vector<std::string>{"a|a", "b|b", "b/x|-", "-|b/y",
                                           "-|b-c", "c|-", "-|d"}));
}

TEST(EntryMergeTest, WithoutADestinationEverythingIsSourceOnly) {
  Trees t;
  t.src->PutFile("a/b", "1");
  t.Open();
  Scanner src(t.src_backend.get(), {});
  ASSERT_TRUE(src.Start().ok());
  EntryMerge merge(&src, nullptr);
  std::vector<std::string> got;
  std::optional<Entry> s;
  std::optional<Entry> d;
  while (merge.Next(&s, &d).value()) got.push_back(Pair(s, d));
  EXPECT_EQ(got, (std::vector<std::string>{"a|-", "a/b|-"}));
}

TEST(EntryMergeTest, SkippingChildrenOnEachSide) {
  Trees t;
  t.src->PutFile("a/x", "1");
  t.src->PutFile("z", "1");
  t.dst->PutFile("a/y", "2");
  t.dst->PutFile("z", "2");
  t.Open();
  Scanner src(t.src_backend.get(), {});
  Scanner dst(t.dst_backend.get(), {});
  ASSERT_TRUE(src.Start().ok());
  ASSERT_TRUE(dst.Start().ok());
  EntryMerge merge(&src, &dst);
  std::vector<std::string> got;
  std::optional<Entry> s;
  std::optional<Entry> d;
  while (merge.Next(&s, &d).value()) {
    got.push_back(Pair(s, d));
    if (s && s->path.str() == "a") merge.SkipDestinationChildren();
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a|a", "a/x|-", "z|z"}));
}

TEST(EntryMergeTest, MapsSourceEntries) {
  Trees t;
  t.src->PutFile("f", "1");
  t.Open();
  Scanner src(t.src_backend.get(), {});
  ASSERT_TRUE(src.Start().ok());
  EntryMerge merge(&src, nullptr, [](Entry* e) { e->uid = 4242; });
  std::optional<Entry> s;
  std::optional<Entry> d;
  ASSERT_TRUE(merge.Next(&s, &d).value());
  EXPECT_EQ(s->uid, 4242u);
}

}  // namespace
}  // namespace ferry
