// The SMB backend against a real Samba smbd (the ctest samba fixture): what
// the conformance suite cannot say of other backends. Opening a location
// that cannot work (a wrong password, a missing share, nothing listening)
// fails at once with a message naming the location and the cause; a file
// another client holds open denying others is refused, naming that; large
// files are read and written with several calls at once.
#include "ferry/smb/smb_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libsmbclient.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "ferry/smb/testing.h"
#include "ferry/storage/testing.h"

namespace ferry {
namespace {

using testing::P;

class SmbBackendSambaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    auto live = smb_testing::ReadLiveSmb(&why);
    if (!live) {
      if (!why.empty()) GTEST_SKIP() << why;
      FAIL() << "no live SMB server";
    }
    live_ = *live;
    static std::mt19937_64 rng{std::random_device{}()};
    folder_ = "unit-" + std::to_string(rng());
  }

  LocationSpec Spec() {
    LocationSpec spec;
    spec.type = "smb";
    spec.host = live_.host;
    spec.bucket = live_.share;
    spec.path = folder_;
    spec.endpoint.user = live_.user;
    spec.endpoint.password = live_.password;
    spec.create_root = true;
    spec.destination = true;
    return spec;
  }

  smb_testing::LiveSmb live_;
  std::string folder_;
};

TEST_F(SmbBackendSambaTest, AWrongPasswordIsRefusedAtOnceNamingTheLocation) {
  LocationSpec spec = Spec();
  spec.endpoint.password = "not-the-password";
  const auto start = std::chrono::steady_clock::now();
  auto b = OpenSmbBackend(spec);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kPermissionDenied)
      << b.status().ToString();
  const std::string msg(b.status().message());
  EXPECT_NE(msg.find("smb://" + live_.host + "/" + live_.share),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(live_.user), std::string::npos) << msg;
  EXPECT_EQ(msg.find("not-the-password"), std::string::npos) << msg;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10))
      << "a refusal is not retried";
}

TEST_F(SmbBackendSambaTest, AMissingShareIsNamed) {
  LocationSpec spec = Spec();
  spec.bucket = "no-such-share";
  auto b = OpenSmbBackend(spec);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kNotFound) << b.status().ToString();
  EXPECT_NE(b.status().message().find("no-such-share"), std::string::npos);
}

TEST_F(SmbBackendSambaTest, NothingListeningIsUnavailableAfterFewRetries) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);  // the port is free: nothing listens there
  LocationSpec spec = Spec();
  spec.host = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  const auto start = std::chrono::steady_clock::now();
  auto b = OpenSmbBackend(spec);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable)
      << b.status().ToString();
  EXPECT_NE(b.status().message().find("cannot reach"), std::string::npos)
      << b.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST_F(SmbBackendSambaTest, AMissingFolderIsCreatedForADestinationOnly) {
  LocationSpec spec = Spec();
  spec.path = folder_ + "/a/b";
  spec.create_root = false;
  auto missing = OpenSmbBackend(spec);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  spec.create_root = true;
  ASSERT_OK_AND_ASSIGN(auto b, OpenSmbBackend(spec));
  ASSERT_OK_AND_ASSIGN(auto root, b->Stat(RelPath()));
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(root->is_dir());
}

void NoAuth(SMBCCTX*, const char*, const char*, char*, int, char*, int, char*,
            int) {}

TEST_F(SmbBackendSambaTest, AFileAnotherClientLocksIsRefusedNamingWhy) {
  ASSERT_OK_AND_ASSIGN(auto b, OpenSmbBackend(Spec()));
  {
    WriteHints hints;
    hints.size = 5;
    ASSERT_OK_AND_ASSIGN(auto w, b->OpenWrite(P("locked.txt"), hints));
    ASSERT_OK(w->WriteAt(0, std::as_bytes(std::span("hello", 5))));
    Entry meta;
    meta.size = 5;
    ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  }
  // Another client opens it denying everyone else.
  SMBCCTX* other = smbc_new_context();
  ASSERT_NE(other, nullptr);
  smbc_setFunctionAuthDataWithContext(other, NoAuth);
  smbc_setUser(other, live_.user.c_str());
  smbc_setOptionOpenShareMode(other, SMBC_SHAREMODE_DENY_ALL);
  ASSERT_NE(smbc_init_context(other), nullptr);
  // The password goes through the URL here: this is the test's own client.
  const std::string url = "smb://" + live_.user + ":" + live_.password + "@" +
                          live_.host + "/" + live_.share + "/" + folder_ +
                          "/locked.txt";
  SMBCFILE* held = smbc_getFunctionOpen(other)(other, url.c_str(), O_RDWR, 0);
  ASSERT_NE(held, nullptr) << std::strerror(errno);

  auto r = b->OpenRead(P("locked.txt"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("another client"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("locked.txt"), std::string::npos);

  smbc_getFunctionClose(other)(other, held);
  smbc_free_context(other, 1);
  ASSERT_OK_AND_ASSIGN(auto reader, b->OpenRead(P("locked.txt")));
  std::string got(5, '\0');
  ASSERT_OK_AND_ASSIGN(
      size_t n, reader->ReadAt(0, std::as_writable_bytes(std::span(got))));
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(got, "hello");
}

TEST_F(SmbBackendSambaTest, ALargeFileGoesOverSeveralConnectionsAtOnce) {
  ASSERT_OK_AND_ASSIGN(auto b, OpenSmbBackend(Spec()));
  constexpr size_t kChunk = 1 << 20;
  constexpr size_t kChunks = 24;
  std::string data(kChunk * kChunks, '\0');
  std::mt19937 rng(5);
  for (char& c : data) c = static_cast<char>(rng());
  WriteHints hints;
  hints.size = data.size();
  ASSERT_OK_AND_ASSIGN(auto w, b->OpenWrite(P("big.bin"), hints));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < kChunks; i += 6) {
        auto chunk = std::as_bytes(std::span(data).subspan(i * kChunk, kChunk));
        if (!w->WriteAt(i * kChunk, chunk).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  Entry meta;
  meta.size = data.size();
  meta.mtime = FileTime{1700000000, 123456000};
  meta.atime = FileTime{1700000001, 0};
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));

  // On the server's disk: the bytes and the mtime.
  std::ifstream in(live_.dir + "/" + folder_ + "/big.bin", std::ios::binary);
  std::string disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_TRUE(disk == data) << "the file on the share differs";
  ASSERT_OK_AND_ASSIGN(auto st, b->Stat(P("big.bin")));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->mtime, meta.mtime);
  EXPECT_EQ(st->size, data.size());

  ASSERT_OK_AND_ASSIGN(auto r, b->OpenRead(P("big.bin")));
  std::string back(data.size(), '\0');
  threads.clear();
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < kChunks; i += 6) {
        auto out =
            std::as_writable_bytes(std::span(back).subspan(i * kChunk, kChunk));
        auto n = r->ReadAt(i * kChunk, out);
        if (!n.ok() || *n != kChunk) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(back == data) << "read back differs";
}

}  // namespace
}  // namespace ferry
