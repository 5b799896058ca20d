// POSIX-specific tests: what the conformance suite cannot see through the
// Backend interface. Above all, that nothing outside the root is ever read,
// written or changed, whatever symbolic links the tree holds; then temporary
// names, opening the root, and errno mapping.
#include "ferry/storage/posix/posix_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ferry/storage/posix/posix_internal.h"
#include "ferry/storage/staging.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using testing::P;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

void WriteHostFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadHostFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// "name=value;" for every attribute of `path` itself (links not followed).
std::string HostXattrs(const std::string& path) {
  char names[4096];
  ssize_t n = ::llistxattr(path.c_str(), names, sizeof(names));
  if (n <= 0) return "";
  std::string out;
  for (const char* name = names; name < names + n; name += strlen(name) + 1) {
    char value[1024];
    ssize_t v = ::lgetxattr(path.c_str(), name, value, sizeof(value));
    out += std::string(name) + "=" + std::string(value, v > 0 ? v : 0) + ";";
  }
  return out;
}

struct HostStat {
  bool exists = false;
  mode_t mode = 0;
  uid_t uid = 0;
  off_t size = 0;
  struct timespec mtime {};
  std::string xattrs;
  bool operator==(const HostStat& o) const {
    return exists == o.exists && mode == o.mode && uid == o.uid &&
           size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && xattrs == o.xattrs;
  }
};

HostStat LStat(const std::string& path) {
  struct stat st;
  HostStat out;
  if (::lstat(path.c_str(), &st) != 0) return out;
  out.exists = true;
  out.mode = st.st_mode;
  out.uid = st.st_uid;
  out.size = st.st_size;
  out.mtime = st.st_mtim;
  out.xattrs = HostXattrs(path);
  return out;
}

// A root holding links to a directory and a file outside it. Every test
// ends by checking that nothing outside the root changed.
class PosixEscapeTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    root_ = tmp_.Sub("root");
    outside_ = tmp_.Sub("outside");
    outside_file_ = tmp_.Sub("outside_file");
    ASSERT_TRUE(fs::create_directory(root_));
    ASSERT_TRUE(fs::create_directory(outside_));
    WriteHostFile(outside_ + "/secret", "S");
    WriteHostFile(outside_file_, "O");
    ASSERT_EQ(::chmod((outside_ + "/secret").c_str(), 0640), 0);
    ASSERT_EQ(::chmod(outside_file_.c_str(), 0640), 0);
    ASSERT_EQ(::chmod(outside_.c_str(), 0750), 0);
    struct timespec times[2] = {{1000, 0}, {1000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, outside_file_.c_str(), times, 0), 0);
    ASSERT_EQ(::utimensat(AT_FDCWD, (outside_ + "/secret").c_str(), times, 0),
              0);
    fs::create_directory_symlink(outside_, root_ + "/dirlink");
    fs::create_directory_symlink("../outside", root_ + "/rel_dirlink");
    fs::create_symlink(outside_file_, root_ + "/filelink");
    fs::create_directory(root_ + "/sub");
    fs::create_directory_symlink("../../outside", root_ + "/sub/deeplink");
    for (const std::string& p :
         {outside_, outside_file_, outside_ + "/secret"}) {
      ASSERT_EQ(::setxattr(p.c_str(), "user.secret", "s", 1, 0), 0) << p;
    }
    ASSERT_EQ(::utimensat(AT_FDCWD, outside_.c_str(), times, 0), 0);

    before_ = SnapshotOutside();
    auto backend = OpenPosixBackend(
        root_, PosixBackendOptions{.component_walk = GetParam()});
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
  }

  void TearDown() override {
    EXPECT_EQ(SnapshotOutside(), before_)
        << "something outside the root changed";
  }

  // Everything outside the root, by path.
  std::map<std::string, HostStat> SnapshotOutside() {
    std::map<std::string, HostStat> snap;
    snap[outside_] = LStat(outside_);
    snap[outside_file_] = LStat(outside_file_);
    for (const auto& e : fs::directory_iterator(outside_)) {
      snap[e.path().string()] = LStat(e.path().string());
    }
    for (const auto& e : fs::directory_iterator(tmp_.path())) {
      snap[e.path().string()].exists = true;
    }
    snap["secret-content"].size =
        static_cast<off_t>(ReadHostFile(outside_ + "/secret").size());
    snap["file-content"].size =
        static_cast<off_t>(ReadHostFile(outside_file_).size());
    return snap;
  }

  Entry Meta(EntryKind kind, uint32_t mode) {
    Entry e;
    e.kind = kind;
    e.mode = mode;
    e.uid = ::geteuid() == 0 ? 4321 : ::geteuid();
    e.gid = ::getegid();
    e.mtime = e.atime = FileTime{2000000000, 0};
    return e;
  }

  Backend* b() { return backend_.get(); }

  // The paths that lead through a link to the outside directory.
  const std::vector<std::string> kThroughDirLinks = {"dirlink", "rel_dirlink",
                                                     "sub/deeplink"};

  TempDir tmp_;
  std::string root_;
  std::string outside_;
  std::string outside_file_;
  std::map<std::string, HostStat> before_;
  std::unique_ptr<Backend> backend_;
};

TEST_P(PosixEscapeTest, StatSeesTheLinksThemselves) {
  ASSERT_OK_AND_ASSIGN(auto dirlink, b()->Stat(P("dirlink")));
  ASSERT_TRUE(dirlink.has_value());
  EXPECT_EQ(dirlink->kind, EntryKind::kSymlink);
  EXPECT_EQ(dirlink->link_target, outside_);
  ASSERT_OK_AND_ASSIGN(auto filelink, b()->Stat(P("filelink")));
  ASSERT_TRUE(filelink.has_value());
  EXPECT_EQ(filelink->kind, EntryKind::kSymlink);
  EXPECT_EQ(filelink->size, 0u);
  for (const std::string& link : kThroughDirLinks) {
    auto through = b()->Stat(P(link + "/secret"));
    EXPECT_TRUE(!through.ok() || !through->has_value())
        << "Stat followed " << link;
  }
}

TEST_P(PosixEscapeTest, ListDoesNotFollow) {
  for (const std::string& link : kThroughDirLinks) {
    EXPECT_FALSE(b()->List(P(link)).ok()) << link;
  }
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> top,
                       testing::ListDir(b(), RelPath()));
  for (const Entry& e : top) {
    if (e.path.name() != "sub") {
      EXPECT_EQ(e.kind, EntryKind::kSymlink) << e.path.Display();
    }
  }
}

TEST_P(PosixEscapeTest, OpenReadDoesNotFollow) {
  EXPECT_FALSE(b()->OpenRead(P("filelink")).ok());
  for (const std::string& link : kThroughDirLinks) {
    EXPECT_FALSE(b()->OpenRead(P(link + "/secret")).ok()) << link;
  }
}

TEST_P(PosixEscapeTest, WritesThroughALinkFailAndCreateNothingOutside) {
  for (const std::string& link : kThroughDirLinks) {
    for (bool may_exist : {true, false}) {
      WriteHints hints;
      hints.size = 1;
      hints.may_exist = may_exist;
      auto w = b()->OpenWrite(P(link + "/x"), hints);
      if (!w.ok()) continue;
      ASSERT_OK((*w)->WriteAt(0, testing::AsBytes("x")));
      Entry meta = Meta(EntryKind::kFile, 0644);
      meta.size = 1;
      EXPECT_FALSE((*w)->Commit(meta, MetadataPolicy{}).ok()) << link;
    }
  }
  EXPECT_FALSE(fs::exists(outside_ + "/x"));
}

TEST_P(PosixEscapeTest, WritingOverAFileLinkReplacesTheLink) {
  ASSERT_OK(WriteFile(b(), P("filelink"), "inside now"));
  EXPECT_FALSE(fs::is_symlink(root_ + "/filelink"));
  EXPECT_EQ(ReadHostFile(root_ + "/filelink"), "inside now");
  EXPECT_EQ(ReadHostFile(outside_file_), "O");
}

TEST_P(PosixEscapeTest, SetMetadataDoesNotFollow) {
  MetadataPolicy all;
  (void)b()->SetMetadata(P("filelink"), Meta(EntryKind::kFile, 0600), all);
  (void)b()->SetMetadata(P("dirlink"), Meta(EntryKind::kDirectory, 0700), all);
  for (const std::string& link : kThroughDirLinks) {
    EXPECT_FALSE(
        b()->SetMetadata(P(link + "/secret"), Meta(EntryKind::kFile, 0600), all)
            .ok())
        << link;
  }
  // A link's own times may change; the targets' must not (TearDown).
}

TEST_P(PosixEscapeTest, ExtendedAttributesDoNotFollow) {
  const XattrList mine = {{"user.ferry", "x"}};
  (void)b()->SetXattrs(P("filelink"), mine, true, false);
  (void)b()->SetXattrs(P("dirlink"), mine, true, false);
  auto link_attrs = b()->GetXattrs(P("filelink"));
  if (link_attrs.ok()) {
    for (const Xattr& x : *link_attrs) EXPECT_NE(x.name, "user.secret");
  }
  for (const std::string& link : kThroughDirLinks) {
    EXPECT_FALSE(b()->SetXattrs(P(link + "/secret"), mine, true, false).ok())
        << link;
    EXPECT_FALSE(b()->GetXattrs(P(link + "/secret")).ok()) << link;
  }
  // The attributes outside are checked in TearDown.
}

TEST_P(PosixEscapeTest, RemoveDoesNotFollow) {
  for (const std::string& link : kThroughDirLinks) {
    EXPECT_FALSE(b()->Remove(P(link + "/secret")).ok()) << link;
    (void)b()->RemoveTree(P(link + "/secret"));
  }
  ASSERT_OK(b()->RemoveTree(P("dirlink")));
  ASSERT_OK(b()->Remove(P("rel_dirlink")));
  ASSERT_OK(b()->RemoveTree(P("sub")));
  ASSERT_OK(b()->Remove(P("filelink")));
  EXPECT_TRUE(fs::is_empty(root_));
}

TEST_P(PosixEscapeTest, MakeDirectoryDoesNotFollow) {
  for (const std::string& link : kThroughDirLinks) {
    EXPECT_FALSE(b()->MakeDirectory(P(link + "/new")).ok()) << link;
    EXPECT_FALSE(b()->MakeDirectory(P(link)).ok()) << link;
    EXPECT_TRUE(fs::is_symlink(root_ + "/" + link)) << link;
  }
}

TEST_P(PosixEscapeTest, LinksAndSpecialFilesAreNotCreatedThroughLinks) {
  Entry link = Meta(EntryKind::kSymlink, 0777);
  link.link_target = "anything";
  Entry fifo = Meta(EntryKind::kFifo, 0600);
  for (const std::string& dirlink : kThroughDirLinks) {
    EXPECT_FALSE(
        b()->CreateSymlink(P(dirlink + "/l"), link, MetadataPolicy{}).ok());
    EXPECT_FALSE(
        b()->CreateSpecial(P(dirlink + "/p"), fifo, MetadataPolicy{}).ok());
    // A hard link to the outside file would expose it inside the root.
    EXPECT_FALSE(b()->CreateHardLink(P(dirlink + "/secret"), P("copy")).ok());
    EXPECT_FALSE(fs::exists(fs::symlink_status(root_ + "/copy")));
  }
  // Linking the link itself is harmless: the new name is a link too.
  if (b()->CreateHardLink(P("filelink"), P("hard")).ok()) {
    EXPECT_TRUE(fs::is_symlink(root_ + "/hard"));
  }
}

TEST_P(PosixEscapeTest, ALinkLoopIsJustALink) {
  fs::create_symlink("loop", root_ + "/loop");
  ASSERT_OK_AND_ASSIGN(auto loop, b()->Stat(P("loop")));
  ASSERT_TRUE(loop.has_value());
  EXPECT_EQ(loop->kind, EntryKind::kSymlink);
  EXPECT_FALSE(b()->List(P("loop")).ok());
  EXPECT_FALSE(b()->OpenRead(P("loop")).ok());
  ASSERT_OK(b()->Remove(P("loop")));
}

INSTANTIATE_TEST_SUITE_P(Resolvers, PosixEscapeTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "ComponentWalk" : "Openat2";
                         });

// ------------------------------------------------------------ Opening roots

TEST(PosixBackendTest, CreateRootMakesMissingParents) {
  TempDir tmp;
  const std::string root = tmp.Sub("a/b/c");
  auto missing = OpenPosixBackend(root);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(tmp.Sub("a")));

  ASSERT_OK_AND_ASSIGN(auto backend,
                       OpenPosixBackend(root, {.create_root = true}));
  EXPECT_TRUE(fs::is_directory(root));
  ASSERT_OK(WriteFile(backend.get(), P("f"), "x"));
  EXPECT_EQ(ReadHostFile(root + "/f"), "x");
  // An existing root is fine too.
  ASSERT_OK_AND_ASSIGN(auto again,
                       OpenPosixBackend(root, {.create_root = true}));
  EXPECT_EQ(ReadFile(again.get(), P("f")).value(), "x");
}

TEST(PosixBackendTest, CopyFromBasisCopiesTheRangeFromBeneathTheRoot) {
  TempDir tmp;
  const std::string root = tmp.Sub("root");
  fs::create_directories(root);
  const std::string basis = testing::RandomBytes(3 << 20, 8);
  WriteHostFile(root + "/old", basis);
  WriteHostFile(tmp.Sub("outside"), basis);
  ASSERT_EQ(::symlink(tmp.Sub("outside").c_str(), (root + "/link").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(root));
  WriteHints hints;
  hints.size = (2 << 20) + 3;
  ASSERT_OK_AND_ASSIGN(auto w, backend->OpenWrite(P("new"), hints));
  ASSERT_OK(w->WriteAt(0, testing::AsBytes("abc")));
  // 2 MiB from the middle of the old file, after the 3 bytes written.
  ASSERT_OK(w->CopyFromBasis(3, P("old"), 1 << 20, 2 << 20));
  Entry meta;
  meta.size = hints.size;
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_TRUE(ReadHostFile(root + "/new") ==
              "abc" + basis.substr(1 << 20, 2 << 20));
  // Past the basis's end, or through a link out of the root: refused (what
  // the writer holds then is for Abort).
  ASSERT_OK_AND_ASSIGN(auto bad, backend->OpenWrite(P("bad"), hints));
  EXPECT_EQ(bad->CopyFromBasis(0, P("old"), (3 << 20) - 10, 20).code(),
            StatusCode::kSourceChanged);
  EXPECT_FALSE(bad->CopyFromBasis(0, P("link"), 0, 10).ok());
  EXPECT_FALSE(bad->CopyFromBasis(0, P("missing"), 0, 10).ok());
  // A FIFO where the basis was: refused at once, not waited on.
  ASSERT_EQ(::mkfifo((root + "/fifo").c_str(), 0600), 0);
  EXPECT_EQ(bad->CopyFromBasis(0, P("fifo"), 0, 10).code(),
            StatusCode::kFailedPrecondition);
  bad->Abort();
  EXPECT_FALSE(fs::exists(root + "/bad"));
}

TEST(PosixBackendTest, RootMustBeADirectory) {
  TempDir tmp;
  WriteHostFile(tmp.Sub("file"), "x");
  EXPECT_FALSE(OpenPosixBackend(tmp.Sub("file")).ok());
  EXPECT_FALSE(OpenPosixBackend(tmp.Sub("file"), {.create_root = true}).ok());
  EXPECT_FALSE(
      OpenPosixBackend(tmp.Sub("file/below"), {.create_root = true}).ok());
  EXPECT_FALSE(OpenPosixBackend("").ok());
}

TEST(PosixBackendTest, TrailingSlashesAreIgnored) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(tmp.path() + "//"));
  EXPECT_EQ(backend->Describe(), tmp.path());
  ASSERT_OK(WriteFile(backend.get(), P("f"), "x"));
  EXPECT_TRUE(fs::exists(tmp.Sub("f")));
}

// ------------------------------------------------------------ Temporary names

// A destination's listing flags ferry's temporary files as staging; one is
// removed when its writer, a process of this host, is gone, or when nobody
// has touched it for the maximum age (a writer on another host of a shared
// destination cannot be asked), and kept otherwise.
TEST(PosixBackendTest, AbandonedStagingIsRemovedAndLiveStagingKept) {
  TempDir tmp;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const uint32_t tag = HostTag();
  auto name = [](uint32_t t, uint32_t pid, int n) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.*s%x-%x-%x",
                  static_cast<int>(kTempPrefix.size()), kTempPrefix.data(), t,
                  pid, n);
    return std::string(buf);
  };
  const std::string gone = name(tag, child, 0);
  const std::string live = name(tag, ::getpid(), 1);
  const std::string foreign_fresh = name(tag + 1, child, 2);
  const std::string foreign_old = name(tag + 1, child, 3);
  const std::string old_format = std::string(kTempPrefix) + "1-0";
  for (const std::string& n : {gone, live, foreign_fresh, foreign_old,
                               old_format, std::string("data")}) {
    std::ofstream(tmp.Sub(n)) << "partial";
  }
  const auto now = std::chrono::system_clock::now();
  const auto two_days_ago =
      std::chrono::duration_cast<std::chrono::seconds>(
          (now - std::chrono::hours(48)).time_since_epoch())
          .count();
  struct timespec times[2] = {{two_days_ago, 0}, {two_days_ago, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, tmp.Sub(foreign_old).c_str(), times, 0), 0);

  PosixBackendOptions options;
  options.flag_staging = true;
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(tmp.path(), options));
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> entries,
                       testing::ListDir(backend.get(), RelPath()));
  StagingCleanup cleanup;
  cleanup.now = now;
  std::set<std::string> removed;
  cleanup.on_removed = [&](const RelPath& p, const std::string&) {
    removed.insert(p.str());
  };
  int flagged = 0;
  for (const Entry& e : entries) {
    EXPECT_EQ(e.staging(), e.path.str() != "data") << e.path.Display();
    if (!e.staging()) continue;
    ++flagged;
    ASSERT_OK(backend->CleanupStagingEntry(e, cleanup));
  }
  EXPECT_EQ(flagged, 5);
  EXPECT_EQ(removed, (std::set<std::string>{gone, foreign_old}));
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(gone)));
  EXPECT_FALSE(std::filesystem::exists(tmp.Sub(foreign_old)));
  for (const std::string& n : {live, foreign_fresh, old_format}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.Sub(n))) << n;
  }
  // A source's listing shows the same names as data.
  ASSERT_OK_AND_ASSIGN(auto source, OpenPosixBackend(tmp.path()));
  ASSERT_OK_AND_ASSIGN(entries, testing::ListDir(source.get(), RelPath()));
  for (const Entry& e : entries) EXPECT_FALSE(e.staging()) << e.path.Display();
}

// Every name a write creates on its way to the final one starts with
// kTempPrefix, so that scans can hide it.
TEST(PosixBackendTest, IntermediateNamesCarryTheTempPrefix) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(tmp.path()));
  int ifd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(ifd, 0);
  ASSERT_GE(::inotify_add_watch(ifd, tmp.path().c_str(),
                                IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO),
            0);
  Backend* b = backend.get();
  ASSERT_OK(WriteFile(b, P("f"), "first"));
  ASSERT_OK(WriteFile(b, P("f"), "replaced"));
  {
    WriteHints free_path;
    free_path.size = 1;
    free_path.may_exist = false;
    ASSERT_OK_AND_ASSIGN(auto w, b->OpenWrite(P("g"), free_path));
    ASSERT_OK(w->WriteAt(0, testing::AsBytes("g")));
    Entry meta;
    meta.size = 1;
    ASSERT_OK(
        w->Commit(meta, MetadataPolicy{false, false, false, false, false}));
  }
  {
    WriteHints hints;
    hints.size = 1;
    ASSERT_OK_AND_ASSIGN(auto w, b->OpenWrite(P("aborted"), hints));
    ASSERT_OK(w->WriteAt(0, testing::AsBytes("a")));
  }
  Entry link;
  link.kind = EntryKind::kSymlink;
  link.link_target = "f";
  ASSERT_OK(b->CreateSymlink(P("l"), link, MetadataPolicy{}));
  ASSERT_OK(b->CreateSymlink(P("l"), link, MetadataPolicy{}));
  Entry fifo;
  fifo.kind = EntryKind::kFifo;
  fifo.mode = 0600;
  ASSERT_OK(b->CreateSpecial(P("p"), fifo, MetadataPolicy{}));
  ASSERT_OK(b->CreateHardLink(P("f"), P("h")));
  ASSERT_OK(b->MakeDirectory(P("d")));

  std::set<std::string> finals = {"f", "g", "l", "p", "h", "d"};
  std::vector<std::string> strays;
  int events = 0;
  alignas(struct inotify_event) char buf[64 * 1024];
  while (true) {
    ssize_t n = ::read(ifd, buf, sizeof(buf));
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      if (ev->len == 0) continue;
      ++events;
      std::string name(ev->name);
      if (!finals.count(name) && !IsFerryTempName(name)) strays.push_back(name);
      if ((ev->mask & IN_MOVED_TO) && IsFerryTempName(name)) {
        strays.push_back("renamed to a temporary name: " + name);
      }
    }
  }
  ::close(ifd);
  EXPECT_GE(events, 6);
  EXPECT_TRUE(strays.empty()) << "first stray: " << strays.front();
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names,
                       testing::ListNames(b, RelPath()));
  EXPECT_EQ(names, (std::vector<std::string>{"d", "f", "g", "h", "l", "p"}));
}

// Two backends on one root (two tasks writing into one location) must not
// trip over each other's temporary names.
TEST(PosixBackendTest, TwoBackendsOnOneRootWriteConcurrently) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto first, OpenPosixBackend(tmp.path()));
  ASSERT_OK_AND_ASSIGN(auto second, OpenPosixBackend(tmp.path()));
  constexpr int kPerBackend = 100;
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex mu;
  auto run = [&](Backend* backend, const std::string& prefix) {
    for (int i = 0; i < kPerBackend; ++i) {
      Entry link;
      link.kind = EntryKind::kSymlink;
      link.link_target = "target";
      Status st = backend->CreateSymlink(P(prefix + std::to_string(i)), link,
                                         MetadataPolicy{});
      if (st.ok())
        st = WriteFile(backend, P(prefix + "f" + std::to_string(i)), "x");
      if (!st.ok()) {
        std::lock_guard lock(mu);
        if (failures++ == 0) first_failure = st.ToString();
      }
    }
  };
  {
    std::jthread a(run, first.get(), "a");
    std::jthread c(run, second.get(), "b");
  }
  EXPECT_EQ(failures.load(), 0) << "first: " << first_failure;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names,
                       testing::ListNames(first.get(), RelPath()));
  EXPECT_EQ(names.size(), 4u * kPerBackend);
}

// ------------------------------------------------------ The tree moving under
// us

// Directories are cached by relative path; one that is renamed by someone
// else must not keep receiving what is written to its old path.
TEST(PosixBackendTest, ADirectoryRenamedAwayNoLongerReceivesWrites) {
  TempDir tmp;
  const std::string root = tmp.Sub("root");
  fs::create_directories(root + "/d");
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(root));
  ASSERT_OK(WriteFile(backend.get(), P("d/x"), "x"));
  fs::rename(root + "/d", root + "/d_old");
  fs::create_directory(root + "/d");
  ASSERT_OK(WriteFile(backend.get(), P("d/y"), "y"));
  EXPECT_FALSE(fs::exists(root + "/d_old/y"));
  EXPECT_EQ(ReadHostFile(root + "/d/y"), "y");
}

// The same with the directory moved out of the root: writes must not follow
// it there.
TEST(PosixBackendTest, ADirectoryMovedOutOfTheRootIsNotWrittenTo) {
  TempDir tmp;
  const std::string root = tmp.Sub("root");
  fs::create_directories(root + "/d");
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(root));
  ASSERT_OK(WriteFile(backend.get(), P("d/x"), "x"));
  fs::rename(root + "/d", tmp.Sub("moved_out"));
  Status write = WriteFile(backend.get(), P("d/y"), "y");
  Status mkdir = backend->MakeDirectory(P("d/sub"));
  EXPECT_FALSE(fs::exists(tmp.Sub("moved_out/y")));
  EXPECT_FALSE(fs::exists(tmp.Sub("moved_out/sub")));
  // There is no d beneath the root any more.
  EXPECT_FALSE(write.ok());
  EXPECT_FALSE(mkdir.ok());
}

// ------------------------------------------------------------------- Listing

TEST(PosixBackendTest, ListsWhatOthersCreated) {
  TempDir tmp;
  const std::string odd = "new\nline \xff";
  WriteHostFile(tmp.Sub(odd), "odd");
  ASSERT_EQ(::mkfifo(tmp.Sub("fifo").c_str(), 0600), 0);
  WriteHostFile(tmp.Sub("a"), "linked");
  ASSERT_EQ(::link(tmp.Sub("a").c_str(), tmp.Sub("b").c_str()), 0);
  WriteHostFile(tmp.Sub(std::string(kTempPrefix) + "leftover"), "tmp");
  ASSERT_OK_AND_ASSIGN(auto backend, OpenPosixBackend(tmp.path()));
  ASSERT_OK_AND_ASSIGN(std::vector<Entry> all,
                       testing::ListDir(backend.get(), RelPath()));
  std::map<std::string, Entry> by_name;
  for (const Entry& e : all) by_name[std::string(e.path.name())] = e;
  ASSERT_EQ(by_name.count(odd), 1u);
  EXPECT_EQ(by_name[odd].size, 3u);
  EXPECT_EQ(ReadFile(backend.get(), RelPath().Child(odd)).value(), "odd");
  ASSERT_EQ(by_name.count("fifo"), 1u);
  EXPECT_EQ(by_name["fifo"].kind, EntryKind::kFifo);
  EXPECT_EQ(by_name["a"].ino, by_name["b"].ino);
  EXPECT_EQ(by_name["a"].nlink, 2u);
  // Leftover temporary files are listed (scans hide them, not backends).
  EXPECT_EQ(by_name.count(std::string(kTempPrefix) + "leftover"), 1u);
}

// ------------------------------------------------------------- Error mapping

TEST(PosixErrorTest, MapsErrnoToCodes) {
  const RelPath path = P("dir/file");
  struct Case {
    int err;
    StatusCode code;
    bool retryable;
  };
  const Case cases[] = {
      {ENOENT, StatusCode::kNotFound, false},
      {ENOTDIR, StatusCode::kNotFound, false},
      {EEXIST, StatusCode::kAlreadyExists, false},
      {ENOTEMPTY, StatusCode::kAlreadyExists, false},
      {EACCES, StatusCode::kPermissionDenied, false},
      {EPERM, StatusCode::kPermissionDenied, false},
      {EROFS, StatusCode::kPermissionDenied, false},
      {ELOOP, StatusCode::kFailedPrecondition, false},
      {EXDEV, StatusCode::kPermissionDenied, false},
      {ENOSPC, StatusCode::kResourceExhausted, false},
      {EDQUOT, StatusCode::kResourceExhausted, false},
      {EMFILE, StatusCode::kResourceExhausted, true},
      {EINTR, StatusCode::kUnavailable, true},
      {EAGAIN, StatusCode::kUnavailable, true},
      {ETIMEDOUT, StatusCode::kUnavailable, true},
      {ESTALE, StatusCode::kUnavailable, true},
      {ENOTSUP, StatusCode::kNotSupported, false},
      {EIO, StatusCode::kIoError, false},
  };
  for (const Case& c : cases) {
    Status st = PosixError("open", path, c.err);
    EXPECT_EQ(st.code(), c.code) << std::strerror(c.err);
    EXPECT_EQ(st.retryable(), c.retryable) << std::strerror(c.err);
    EXPECT_EQ(st.sys_errno(), c.err);
    EXPECT_NE(st.message().find("open /dir/file"), std::string_view::npos)
        << st.message();
    EXPECT_NE(st.message().find(std::strerror(c.err)), std::string_view::npos)
        << st.message();
  }
}

TEST(PosixErrorTest, EscapesThePathAndExplainsLinks) {
  Status st = PosixError("open", P("a\nb"), ELOOP);
  EXPECT_EQ(st.message().find('\n'), std::string_view::npos) << st.message();
  EXPECT_NE(st.message().find("symbolic link"), std::string_view::npos);
}

}  // namespace
}  // namespace ferry
