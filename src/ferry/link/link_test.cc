// The link's own behaviour, beyond the storage contract the conformance
// suite checks (tests/conformance/backend_conformance_link_test.cc):
// damaged chunks, broken connections, requests sent twice, hostile
// answers, compression, flow control and the receiver's bounds.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/delta/delta.h"
#include "ferry/link/link_testing.h"
#include "ferry/link/remote_backend.h"
#include "ferry/storage/decorators/fault_injecting_backend.h"
#include "ferry/storage/memory/memory_backend.h"
#include "ferry/storage/posix/posix_backend.h"
#include "ferry/storage/testing.h"
#include "ferry/verify/verifier.h"

namespace ferry::link {
namespace {

namespace ft = ::ferry::testing;
namespace lt = ::ferry::link::testing;
using ft::AsBytes;
using ft::P;
using ft::RandomBytes;

// Waits (without asserting on time) until `done` holds; fails the test
// rather than hang if it never does.
template <typename Fn>
bool Eventually(Fn done) {
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A file too large to go whole in one PUT_FILE: its data goes as chunks.
constexpr size_t kLargeFile = kMaxPutFileBytes + 1000;

// Damages the data of the next `budget` CHUNK frames sent (all connections
// share the budget), from the `first`-th chunk (1: the next) on; and of the
// next `budget` PUT_FILE requests. A Send may carry several frames (the
// requests queued on a connection go out together): each is looked at.
class DamageChunks : public lt::ForwardingStream {
 public:
  DamageChunks(std::unique_ptr<FrameStream> inner,
               std::shared_ptr<std::atomic<int>> budget, int first = 1)
      : ForwardingStream(std::move(inner)),
        budget_(std::move(budget)),
        skip_(first - 1) {}
  Status Send(std::span<const std::byte> frames) override {
    std::vector<std::byte> out;
    out.reserve(frames.size());
    bool damaged = false;
    size_t at = 0;
    while (at + kFrameHeaderBytes <= frames.size()) {
      auto header = DecodeHeader(frames.subspan(at).first<kFrameHeaderBytes>());
      if (!header.ok() ||
          header->length > frames.size() - at - kFrameHeaderBytes) {
        break;
      }
      const auto frame =
          frames.subspan(at, kFrameHeaderBytes + size_t{header->length});
      at += frame.size();
      if (!Damage(frame, &out)) {
        out.insert(out.end(), frame.begin(), frame.end());
      } else {
        damaged = true;
      }
    }
    if (!damaged) return inner_->Send(frames);
    out.insert(out.end(), frames.begin() + static_cast<ptrdiff_t>(at),
               frames.end());
    return inner_->Send(out);
  }

 private:
  // Appends a damaged copy of `frame` to `out` if it is one to damage.
  bool Damage(std::span<const std::byte> frame, std::vector<std::byte>* out) {
    const FrameType type = lt::TypeOf(frame);
    const bool data = (type == FrameType::kChunk && skip_.fetch_sub(1) <= 0) ||
                      (type == FrameType::kRequest && IsPutFile(frame));
    if (!data || budget_->fetch_sub(1) <= 0) return false;
    if (type == FrameType::kChunk) {
      const size_t from = out->size();
      out->insert(out->end(), frame.begin(), frame.end());
      out->back() ^= std::byte{0x40};  // the data ends the frame
      return out->size() > from;
    }
    // A byte of the file's data, its checksum left as it was.
    auto q = DecodeRequest(frame.subspan(kFrameHeaderBytes));
    if (!q.ok() || q->data.empty()) {
      ++*budget_;  // nothing to damage: not counted
      return false;
    }
    q->data[0] ^= std::byte{0x40};
    return AppendRequest(out, lt::StreamOf(frame), *q).ok();
  }

  static bool IsPutFile(std::span<const std::byte> frame) {
    auto q = DecodeRequest(frame.subspan(kFrameHeaderBytes));
    return q.ok() && q->op == Op::kPutFile;
  }

  std::shared_ptr<std::atomic<int>> budget_;
  std::atomic<int> skip_;
};

// Breaks the connection instead of sending its `n`-th frame.
class BreakAfter : public lt::ForwardingStream {
 public:
  BreakAfter(std::unique_ptr<FrameStream> inner, int n)
      : ForwardingStream(std::move(inner)), left_(n) {}
  Status Send(std::span<const std::byte> frame) override {
    if (left_.fetch_sub(1) <= 1) {
      inner_->Close();
      return Status(StatusCode::kUnavailable, "broken by the test");
    }
    return inner_->Send(frame);
  }

 private:
  std::atomic<int> left_;
};

// A receiver's writer that counts writes of bytes other than `expected`.
class CheckingWriter : public StagedWriter {
 public:
  CheckingWriter(std::unique_ptr<StagedWriter> inner, const std::string* want,
                 std::atomic<int>* writes, std::atomic<int>* bad)
      : inner_(std::move(inner)), want_(want), writes_(writes), bad_(bad) {}
  Status WriteAt(uint64_t offset, std::span<const std::byte> data) override {
    ++*writes_;
    if (offset + data.size() > want_->size() ||
        std::memcmp(want_->data() + offset, data.data(), data.size()) != 0) {
      ++*bad_;
    }
    return inner_->WriteAt(offset, data);
  }
  Status Commit(const Entry& m, const MetadataPolicy& p) override {
    return inner_->Commit(m, p);
  }
  void Abort() override { inner_->Abort(); }

 private:
  std::unique_ptr<StagedWriter> inner_;
  const std::string* want_;
  std::atomic<int>* writes_;
  std::atomic<int>* bad_;
};

class CheckingBackend : public ft::ForwardingBackend {
 public:
  CheckingBackend(Backend* inner, std::string want)
      : ForwardingBackend(inner), want_(std::move(want)) {}
  Result<std::unique_ptr<StagedWriter>> OpenWrite(
      const RelPath& path, const WriteHints& hints) override {
    FERRY_ASSIGN_OR_RETURN(auto w, ForwardingBackend::OpenWrite(path, hints));
    return std::unique_ptr<StagedWriter>(
        std::make_unique<CheckingWriter>(std::move(w), &want_, &writes, &bad));
  }
  std::atomic<int> writes{0};
  std::atomic<int> bad{0};

 private:
  const std::string want_;
};

class LinkTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemoryStore> store_ = std::make_shared<MemoryStore>();
  std::unique_ptr<Backend> memory_ = OpenMemoryBackend(store_);
};

TEST_F(LinkTest, ADamagedChunkIsSentAgainAndNeverWritten) {
  const std::string content = RandomBytes(3 * kBlockSize + 100, 1);
  CheckingBackend checking(memory_.get(), content);
  lt::LinkHarness h(&checking);
  auto budget = std::make_shared<std::atomic<int>>(1);
  h.set_wrap_sender([budget](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<DamageChunks>(std::move(s), budget);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
  ASSERT_OK(ft::WriteFile(remote.get(), P("f"), content));
  EXPECT_TRUE(store_->GetFile("f") == content);
  EXPECT_EQ(remote->counters().chunk_retries.load(), 1u);
  EXPECT_EQ(checking.writes.load(), 4);  // each block once
  EXPECT_EQ(checking.bad.load(), 0);
}

TEST_F(LinkTest, ARangeWrittenAgainKeepsItsLastWriteWhenAnEarlierOneIsResent) {
  lt::LinkHarness h(memory_.get());
  auto budget = std::make_shared<std::atomic<int>>(1);
  h.set_wrap_sender([budget](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<DamageChunks>(std::move(s), budget);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  const std::string junk = RandomBytes(64 << 10, 9);
  const std::string content = RandomBytes(64 << 10, 10);
  WriteHints hints;
  hints.size = kLargeFile;
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
  // The first write arrives damaged and goes again: the second, written
  // after it, must still be what the range holds.
  ASSERT_OK(w->WriteAt(0, AsBytes(junk)));
  ASSERT_OK(w->WriteAt(0, AsBytes(content)));
  Entry meta;
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_EQ(remote->counters().chunk_retries.load(), 1u);
  EXPECT_TRUE(store_->GetFile("f") == content);
}

TEST_F(LinkTest, AChunkDamagedEveryTimeFailsTheFileWithDataLoss) {
  const std::string content = RandomBytes(kLargeFile, 2);
  CheckingBackend checking(memory_.get(), content);
  lt::LinkHarness h(&checking);
  auto budget = std::make_shared<std::atomic<int>>(1000);
  h.set_wrap_sender([budget](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<DamageChunks>(std::move(s), budget);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
  Status st = ft::WriteFile(remote.get(), P("f"), content);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_GE(remote->counters().chunk_retries.load(), 3u);
  EXPECT_EQ(checking.writes.load(), 0);
  EXPECT_FALSE(store_->GetFile("f").has_value());
  EXPECT_EQ(h.session().open_writers(), 0u);
}

// The checksum a block was read with (StagedWriter::NoteChecksum) is the
// one the link sends: a block damaged after it was read, before it reached
// the link, is refused at the receiver and never written, for a small file
// (PUT_FILE) and a large one (CHUNK) alike.
TEST_F(LinkTest, ABlockDamagedBetweenItsReadAndTheLinkIsNeverWritten) {
  lt::LinkHarness h(memory_.get());
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
  for (const uint64_t size : {uint64_t{5000}, 3 * kBlockSize}) {
    SCOPED_TRACE(size);
    const std::string content = RandomBytes(size, 9);
    WriteHints hints;
    hints.size = size;
    const RelPath path = P("f" + std::to_string(size));
    ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(path, hints));
    Status st;
    for (uint64_t at = 0; at < size && st.ok(); at += kBlockSize) {
      const uint64_t n = std::min<uint64_t>(kBlockSize, size - at);
      std::string block = content.substr(at, n);
      w->NoteChecksum(at, n, ComputeBlockChecksum(AsBytes(block)));
      if (at == 0) block[n / 2] ^= 0x20;  // damaged after the read
      st = w->WriteAt(at, AsBytes(block));
    }
    Entry meta;
    meta.size = size;
    if (st.ok()) st = w->Commit(meta, MetadataPolicy{});
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
    EXPECT_FALSE(store_->GetFile(path.str()).has_value());
  }
  // Undamaged, the noted checksums carry the file.
  const std::string content = RandomBytes(5000, 10);
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("ok"), WriteHints{}));
  w->NoteChecksum(0, content.size(), ComputeBlockChecksum(AsBytes(content)));
  ASSERT_OK(w->WriteAt(0, AsBytes(content)));
  Entry meta;
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_TRUE(store_->GetFile("ok") == content);
}

TEST_F(LinkTest, AConnectionLostMidFileResumes) {
  const std::string content = RandomBytes(6 * kBlockSize + 7, 3);
  CheckingBackend checking(memory_.get(), content);
  lt::LinkHarness h(&checking);
  // The first connections break at their tenth frame, in the middle of the
  // chunks; those made again do not.
  h.set_wrap_sender([](std::unique_ptr<FrameStream> s, uint32_t,
                       int attempt) -> std::unique_ptr<FrameStream> {
    if (attempt >= 2) return s;
    return std::make_unique<BreakAfter>(std::move(s), 10);
  });
  LinkOptions options = lt::FastLinkOptions();
  options.window_bytes = 1 << 20;
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(2, options));
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
  for (size_t off = 0; off < content.size(); off += 256 << 10) {
    const size_t n = std::min<size_t>(256 << 10, content.size() - off);
    ASSERT_OK(
        w->WriteAt(off, AsBytes(std::string_view(content).substr(off, n))));
  }
  Entry meta;
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_TRUE(store_->GetFile("f") == content);
  EXPECT_GE(remote->counters().reconnects.load(), 1u);
  EXPECT_EQ(checking.bad.load(), 0);
  // The link works on.
  ASSERT_OK_AND_ASSIGN(auto st, remote->Stat(P("f")));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, content.size());
}

TEST(LinkSocketStreamTest, FramesGoWholeAndCloseUnblocksAReceive) {
  auto [a, b] = lt::StreamPair("pair");
  std::vector<std::byte> frame;
  ASSERT_OK(AppendFrame(&frame, 3, Ping{42}));
  ASSERT_OK(a->Send(frame));
  std::vector<std::byte> payload;
  ASSERT_OK_AND_ASSIGN(FrameHeader header, b->Receive(&payload));
  EXPECT_EQ(header.type, FrameType::kPing);
  EXPECT_EQ(header.stream, 3u);
  ASSERT_OK_AND_ASSIGN(Ping ping, Ping::Decode(payload));
  EXPECT_EQ(ping.opaque, 42u);
  // A header that does not decode.
  std::vector<std::byte> junk(12, std::byte{0xee});
  ASSERT_OK(a->Send(junk));
  EXPECT_EQ(b->Receive(&payload).status().code(), StatusCode::kInvalidArgument);
  // A receive blocked on nothing returns once the stream is closed.
  std::thread closer([&b = b] { b->Close(); });
  EXPECT_EQ(b->Receive(&payload).status().code(), StatusCode::kUnavailable);
  closer.join();
  EXPECT_EQ(b->Send(frame).code(), StatusCode::kUnavailable);
  // The peer sees the end, then its sends fail.
  EXPECT_EQ(a->Receive(&payload).status().code(), StatusCode::kUnavailable);
}

// Once armed, breaks the connection instead of sending the next RESPONSE
// (and disarms); with `and_acks`, also swallows the CHUNK_ACK frames sent
// while armed.
class DropResponse : public lt::ForwardingStream {
 public:
  DropResponse(std::unique_ptr<FrameStream> inner, std::atomic<bool>* armed,
               bool and_acks = false)
      : ForwardingStream(std::move(inner)),
        armed_(armed),
        and_acks_(and_acks) {}
  Status Send(std::span<const std::byte> frame) override {
    if (and_acks_ && armed_->load() &&
        lt::TypeOf(frame) == FrameType::kChunkAck) {
      return Status::Ok();
    }
    if (lt::TypeOf(frame) == FrameType::kResponse && armed_->exchange(false)) {
      inner_->Close();
      return Status(StatusCode::kUnavailable, "dropped by the test");
    }
    return inner_->Send(frame);
  }

 private:
  std::atomic<bool>* armed_;
  const bool and_acks_;
};

TEST_F(LinkTest, ARequestSentAgainAfterAReconnectionRunsOnce) {
  store_->PutFile("f", "x");
  lt::LinkHarness h(memory_.get());
  std::atomic<bool> armed{false};
  h.set_wrap_receiver([&armed](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<DropResponse>(std::move(s), &armed);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  // The REMOVE runs, its answer is lost with the connection, the request
  // goes again with its id: the answer is the one kept, not NotFound.
  armed = true;
  EXPECT_OK(remote->Remove(P("f")));
  EXPECT_FALSE(armed.load());
  EXPECT_EQ(remote->counters().reconnects.load(), 1u);
  EXPECT_FALSE(store_->GetFile("f").has_value());
  EXPECT_TRUE(remote->Remove(P("f")).IsNotFound());
}

TEST_F(LinkTest, ASmallFileGoesWholeAndDamagedIsSentAgainNeverWritten) {
  const std::string content = RandomBytes(kMaxPutFileBytes / 2, 13);
  CheckingBackend checking(memory_.get(), content);
  lt::LinkHarness h(&checking);
  auto budget = std::make_shared<std::atomic<int>>(1);
  h.set_wrap_sender([budget](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<DamageChunks>(std::move(s), budget);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  ASSERT_OK(ft::WriteFile(remote.get(), P("f"), content));
  EXPECT_TRUE(store_->GetFile("f") == content);
  EXPECT_EQ(remote->counters().chunk_retries.load(), 1u);
  EXPECT_EQ(remote->counters().chunk_bytes_read.load(), content.size());
  EXPECT_EQ(remote->counters().chunk_bytes_sent.load(), 2 * content.size());
  EXPECT_EQ(checking.writes.load(), 1);
  EXPECT_EQ(checking.bad.load(), 0);
  EXPECT_EQ(h.session().open_writers(), 0u);
  // Damaged every time: DataLoss, and nothing at the path.
  budget->store(1000);
  Status st = ft::WriteFile(remote.get(), P("g"), content);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_FALSE(store_->GetFile("g").has_value());
  EXPECT_EQ(checking.writes.load(), 1);
  // An empty file goes whole too.
  budget->store(0);
  ASSERT_OK(ft::WriteFile(remote.get(), P("empty"), ""));
  EXPECT_TRUE(store_->GetFile("empty") == std::string());
}

TEST_F(LinkTest, SmallFilesCommittedTogetherTravelTogether) {
  auto sent = std::make_shared<lt::CountingStream::Counts>();
  auto answered = std::make_shared<lt::CountingStream::Counts>();
  lt::LinkHarness h(memory_.get());
  h.set_wrap_sender([sent](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<lt::CountingStream>(std::move(s), sent);
  });
  h.set_wrap_receiver(
      [answered](std::unique_ptr<FrameStream> s, uint32_t, int) {
        return std::make_unique<lt::CountingStream>(std::move(s), answered);
      });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  ASSERT_OK(remote->Stat(RelPath()).status());  // the connection is up
  constexpr int kFiles = 100;
  std::vector<std::unique_ptr<StagedWriter>> writers;
  for (int i = 0; i < kFiles; ++i) {
    const std::string content = RandomBytes(50 + i, i);
    WriteHints hints;
    hints.size = content.size();
    ASSERT_OK_AND_ASSIGN(auto w,
                         remote->OpenWrite(P("f" + std::to_string(i)), hints));
    ASSERT_OK(w->WriteAt(0, AsBytes(content)));
    Entry meta;
    meta.size = content.size();
    EXPECT_FALSE(w->BeginCommit(meta, MetadataPolicy{}).has_value()) << i;
    writers.push_back(std::move(w));
  }
  // Queued, not sent: they go out together at the first FinishCommit.
  EXPECT_FALSE(store_->GetFile("f0").has_value());
  const int sends = sent->sends.load();
  const int answers = answered->sends.load();
  const int frames = answered->frames.load();
  for (auto& w : writers) ASSERT_OK(w->FinishCommit());
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_TRUE(store_->GetFile("f" + std::to_string(i)) ==
                RandomBytes(50 + i, i))
        << i;
  }
  EXPECT_EQ(sent->sends.load() - sends, 1);
  EXPECT_EQ(answered->frames.load() - frames, kFiles);
  // Answers are held while more requests wait, up to 64 at a time.
  EXPECT_LE(answered->sends.load() - answers, 4);
  // A commit under way is the writer's last use.
  EXPECT_FALSE(writers[0]->WriteAt(0, AsBytes("x")).ok());
}

TEST_F(LinkTest, VerificationAsksAboutManyFilesAtOnce) {
  // Behind the receiver a directory, which keeps xattrs (where it can).
  ft::TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Backend> posix,
                       OpenPosixBackend(dir.path()));
  ASSERT_OK(ft::WriteFile(posix.get(), P("a"), "alpha"));
  ASSERT_OK(ft::WriteFile(posix.get(), P("b"), RandomBytes(3 << 20, 4)));
  auto sent = std::make_shared<lt::CountingStream::Counts>();
  lt::LinkHarness h(posix.get());
  h.set_wrap_sender([sent](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<lt::CountingStream>(std::move(s), sent);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  ASSERT_OK(remote->Stat(RelPath()).status());  // the connection is up
  const std::vector<RelPath> paths = {P("a"), P("missing"), P("b")};

  int sends = sent->sends.load();
  auto stats = remote->StatMany(paths);
  EXPECT_EQ(sent->sends.load() - sends, 1);
  ASSERT_EQ(stats.size(), 3u);
  ASSERT_OK(stats[0].status());
  ASSERT_TRUE(stats[0]->has_value());
  EXPECT_EQ((*stats[0])->size, 5u);
  ASSERT_OK(stats[1].status());
  EXPECT_FALSE(stats[1]->has_value());
  ASSERT_OK(stats[2].status());
  EXPECT_EQ((*stats[2])->size, 3u << 20);

  sends = sent->sends.load();
  uint64_t bytes = 0;
  auto digests =
      remote->ComputeDigestMany(paths, DigestAlgorithm::kXxh3_128, {},
                                [&bytes](uint64_t n) { bytes += n; });
  EXPECT_EQ(sent->sends.load() - sends, 1);
  ASSERT_EQ(digests.size(), 3u);
  for (size_t i : {0u, 2u}) {
    ASSERT_OK(digests[i].status()) << i;
    ASSERT_OK_AND_ASSIGN(
        auto one, posix->ComputeDigest(paths[i], DigestAlgorithm::kXxh3_128, {},
                                       nullptr));
    EXPECT_EQ(digests[i]->first, one.first) << i;
    EXPECT_EQ(digests[i]->second.size, one.second.size) << i;
  }
  EXPECT_EQ(digests[1].status().code(), StatusCode::kNotFound)
      << digests[1].status().ToString();
  EXPECT_EQ(bytes, 5u + (3u << 20));

  if (remote->capabilities().xattrs) {
    ASSERT_OK(posix->SetXattrs(P("b"), {{"user.k", "v"}}, true, false));
    auto lists = remote->GetXattrsMany(paths);
    ASSERT_EQ(lists.size(), 3u);
    ASSERT_OK(lists[0].status());
    EXPECT_TRUE(lists[0]->empty());
    EXPECT_FALSE(lists[1].ok());
    ASSERT_OK(lists[2].status());
    EXPECT_EQ(*lists[2], (XattrList{{"user.k", "v"}}));
  }

  // Asked to stop: nothing is asked.
  std::stop_source stop;
  stop.request_stop();
  sends = sent->sends.load();
  digests = remote->ComputeDigestMany(paths, DigestAlgorithm::kXxh3_128,
                                      stop.get_token(), nullptr);
  ASSERT_EQ(digests.size(), 3u);
  for (const auto& d : digests) EXPECT_TRUE(d.status().IsCancelled());
  EXPECT_EQ(sent->sends.load(), sends);
}

TEST_F(LinkTest, AnAnswerIsNotHeldBehindARequestThatMayTakeLong) {
  ASSERT_OK(ft::WriteFile(memory_.get(), P("a"), "alpha"));
  ASSERT_OK(ft::WriteFile(memory_.get(), P("big"), RandomBytes(1 << 20, 5)));
  // The receiver's digest of "big" waits until the test lets it go (or 10
  // s have passed: the answer before it was held, and the test fails).
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  bool timed_out = false;
  FaultRule hold{FaultOp::kOpenRead, "big", Status::Ok(), -1, [&] {
                   std::unique_lock lock(mu);
                   if (!cv.wait_for(lock, std::chrono::seconds(10),
                                    [&] { return released; })) {
                     timed_out = true;
                   }
                 }};
  FaultInjectingBackend blocking(OpenMemoryBackend(store_), {hold});
  lt::LinkHarness h(&blocking);
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  ASSERT_OK(remote->Stat(RelPath()).status());  // the connection is up
  LinkClient& client = remote->client();
  Request stat;
  stat.op = Op::kStat;
  stat.path = P("a");
  Request digest;
  digest.op = Op::kComputeDigest;
  digest.path = P("big");
  digest.algorithm = DigestAlgorithm::kXxh3_128;
  // Sent together: the receiver has the digest's request in hand when it
  // answers the stat, and would hold that answer if the digest were quick.
  ASSERT_OK_AND_ASSIGN(auto first, client.Start(0, stat));
  ASSERT_OK_AND_ASSIGN(auto second, client.Start(0, digest));
  ASSERT_OK_AND_ASSIGN(Response r1, client.Await(*first));
  {
    std::lock_guard lock(mu);
    EXPECT_FALSE(timed_out) << "the stat's answer waited for the digest";
    released = true;
  }
  cv.notify_all();
  ASSERT_OK(r1.status);
  ASSERT_TRUE(r1.entry.has_value());
  EXPECT_EQ(r1.entry->size, 5u);
  ASSERT_OK_AND_ASSIGN(Response r2, client.Await(*second));
  ASSERT_OK(r2.status);
  EXPECT_EQ(r2.entry->size, 1u << 20);
}

TEST_F(LinkTest, ASmallFileWithMoreThanDataOpensAWriterAtTheReceiver) {
  // A write past the whole-file size (or a copy from a basis) needs a
  // writer at the receiver: what was written and set goes to it.
  lt::LinkHarness h(memory_.get());
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  const XattrList xattrs = {{"user.a", "1"}};
  WriteHints hints;
  hints.size = 6;
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes("abc")));
  const bool with_xattrs = remote->capabilities().xattrs;
  if (with_xattrs) ASSERT_OK(w->SetXattrs(xattrs, true, false));
  EXPECT_EQ(h.session().open_writers(), 0u);
  ASSERT_OK(w->WriteAt(kMaxPutFileBytes, AsBytes("def")));
  EXPECT_EQ(h.session().open_writers(), 1u);
  Entry meta;
  meta.size = kMaxPutFileBytes + 3;
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  auto got = store_->GetFile("f");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size(), kMaxPutFileBytes + 3);
  EXPECT_EQ(got->substr(0, 3), "abc");
  EXPECT_EQ(got->substr(kMaxPutFileBytes), "def");
  EXPECT_EQ(h.session().open_writers(), 0u);
  if (with_xattrs) {
    ASSERT_OK_AND_ASSIGN(XattrList got_xattrs, remote->GetXattrs(P("f")));
    EXPECT_EQ(got_xattrs, xattrs);
  }
}

TEST_F(LinkTest, ASmallFilesXattrsGoInItsOneRequest) {
  // Behind the receiver a directory (the memory backend keeps no xattrs).
  ft::TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Backend> posix,
                       OpenPosixBackend(dir.path()));
  lt::LinkHarness h(posix.get());
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  if (!remote->capabilities().xattrs) {
    GTEST_SKIP() << dir.path() << " keeps no extended attributes";
  }
  const XattrList xattrs = {{"user.a", "1"}, {"user.b", "two"}};
  WriteHints hints;
  hints.size = 3;
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes("abc")));
  ASSERT_OK(w->SetXattrs(xattrs, true, false));
  EXPECT_EQ(h.session().open_writers(), 0u);  // nothing sent yet
  Entry meta;
  meta.size = 3;
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  ASSERT_OK_AND_ASSIGN(std::string got, ft::ReadFile(posix.get(), P("f")));
  EXPECT_EQ(got, "abc");
  ASSERT_OK_AND_ASSIGN(XattrList got_xattrs, remote->GetXattrs(P("f")));
  EXPECT_EQ(got_xattrs, xattrs);
}

TEST_F(LinkTest, ACommitSentBehindARefusedChunkWaitsForItsResend) {
  // The last chunk, damaged on its first way: the COMMIT right behind it
  // finds it refused and is sent again once the chunk is written.
  const std::string content = RandomBytes(kLargeFile, 11);
  CheckingBackend checking(memory_.get(), content);
  lt::LinkHarness h(&checking);
  auto budget = std::make_shared<std::atomic<int>>(1);
  h.set_wrap_sender([budget](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<DamageChunks>(std::move(s), budget, 2);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  ASSERT_OK(ft::WriteFile(remote.get(), P("f"), content));
  EXPECT_TRUE(store_->GetFile("f") == content);
  EXPECT_EQ(remote->counters().chunk_retries.load(), 1u);
  EXPECT_EQ(checking.writes.load(), 2);
  EXPECT_EQ(checking.bad.load(), 0);
  EXPECT_EQ(h.session().open_writers(), 0u);
}

TEST_F(LinkTest, ACommitWhoseAnswerIsLostWithTheAcknowledgementsStillSucceeds) {
  // The file is written and committed, but neither the acknowledgements
  // nor the COMMIT's answer arrive: after the reconnection the chunks go
  // again (to a writer committed already, which takes them as the copies
  // they are), then the COMMIT, answered from what it did.
  const std::string content = RandomBytes(2 * kBlockSize + 5, 12);
  lt::LinkHarness h(memory_.get());
  std::atomic<bool> armed{false};
  h.set_wrap_receiver([&armed](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<DropResponse>(std::move(s), &armed, true);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1));
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
  armed = true;
  ASSERT_OK(w->WriteAt(0, AsBytes(content)));
  Entry meta;
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_FALSE(armed.load());
  EXPECT_EQ(remote->counters().reconnects.load(), 1u);
  EXPECT_TRUE(store_->GetFile("f") == content);
  EXPECT_EQ(h.session().open_writers(), 0u);
}

// Sends one REQUEST frame on `stream` and returns the frame that answers.
std::pair<FrameHeader, std::vector<std::byte>> Ask(FrameStream& stream,
                                                   uint32_t id,
                                                   const Request& q) {
  std::vector<std::byte> frame;
  EXPECT_OK(AppendRequest(&frame, id, q));
  EXPECT_OK(stream.Send(frame));
  std::vector<std::byte> payload;
  auto header = stream.Receive(&payload);
  EXPECT_TRUE(header.ok()) << header.status().ToString();
  return {header.ok() ? *header : FrameHeader{}, std::move(payload)};
}

Status RemoveAnswer(FrameStream& stream, uint32_t id, const RelPath& path) {
  Request q;
  q.op = Op::kRemove;
  q.path = path;
  auto [header, payload] = Ask(stream, id, q);
  EXPECT_EQ(header.type, FrameType::kResponse);
  EXPECT_EQ(header.stream, id);
  auto r = DecodeResponse(Op::kRemove, payload);
  if (!r.ok()) return r.status();
  return r->status;
}

TEST_F(LinkTest, ARepeatedRequestIdIsAnsweredNotRunAgain) {
  lt::LinkHarness h(memory_.get());
  auto [a, a_served] = lt::StreamPair("a");
  h.Serve(std::move(a_served));
  store_->PutFile("f", "1");
  EXPECT_OK(RemoveAnswer(*a, 7, P("f")));
  EXPECT_FALSE(store_->GetFile("f").has_value());
  store_->PutFile("f", "2");
  // The same id, on the same connection and on another: answered from what
  // was done, not done again.
  EXPECT_OK(RemoveAnswer(*a, 7, P("f")));
  auto [b, b_served] = lt::StreamPair("b");
  h.Serve(std::move(b_served));
  EXPECT_OK(RemoveAnswer(*b, 7, P("f")));
  EXPECT_EQ(store_->GetFile("f"), "2");
  // A new id runs.
  EXPECT_OK(RemoveAnswer(*b, 8, P("f")));
  EXPECT_FALSE(store_->GetFile("f").has_value());
  EXPECT_TRUE(RemoveAnswer(*b, 9, P("f")).IsNotFound());
  // An id used again for another operation breaks the protocol.
  Request mkdir;
  mkdir.op = Op::kMakeDirectory;
  mkdir.path = P("d");
  auto [header, payload] = Ask(*b, 8, mkdir);
  EXPECT_EQ(header.type, FrameType::kError);
  EXPECT_FALSE(memory_->Stat(P("d")).value().has_value());
}

TEST_F(LinkTest, AFrameThatDoesNotDecodeGetsAnErrorAndItsConnectionCloses) {
  lt::LinkHarness h(memory_.get());
  auto [raw, served] = lt::StreamPair("raw");
  h.Serve(std::move(served));
  std::vector<std::byte> frame;
  WireWriter w(&frame);
  w.BeginFrame();
  w.WriteVarint(200);  // no such operation
  ASSERT_OK(w.EndFrame(FrameType::kRequest, 1));
  ASSERT_OK(raw->Send(frame));
  std::vector<std::byte> payload;
  ASSERT_OK_AND_ASSIGN(FrameHeader header, raw->Receive(&payload));
  EXPECT_EQ(header.type, FrameType::kError);
  ASSERT_OK_AND_ASSIGN(ErrorFrame error, ErrorFrame::Decode(payload));
  EXPECT_EQ(error.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(raw->Receive(&payload).status().code(), StatusCode::kUnavailable);
  // The session serves other connections still.
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
  EXPECT_OK(remote->MakeDirectory(P("d")));
}

TEST_F(LinkTest, AConnectorThatKeepsFailingEndsUnavailableNamingThePeer) {
  lt::LinkHarness h(memory_.get());
  LinkOptions options = lt::FastLinkOptions();
  options.peer = "agent-b at 10.1.2.3:7447";
  options.reconnect_budget = std::chrono::milliseconds(100);
  h.set_refuse(true);
  auto failed = h.Open(2, options);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("agent-b at 10.1.2.3:7447"),
            std::string_view::npos)
      << failed.status().ToString();

  // Mid-session: the connections break and cannot be made again.
  h.set_refuse(false);
  std::mutex mu;
  std::vector<FrameStream*> made;
  h.set_wrap_sender([&](std::unique_ptr<FrameStream> s, uint32_t, int) {
    std::lock_guard lock(mu);
    made.push_back(s.get());
    return s;
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1, options));
  h.set_refuse(true);
  {
    std::lock_guard lock(mu);
    for (FrameStream* s : made) s->Close();
  }
  auto st = remote->Stat(P("x"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(st.status().message().find("agent-b at 10.1.2.3:7447"),
            std::string_view::npos)
      << st.status().ToString();
  // Once the peer is back, the next call connects again.
  h.set_refuse(false);
  EXPECT_OK(remote->MakeDirectory(P("back")));
}

TEST_F(LinkTest, ARefusalIsNotRetried) {
  std::atomic<int> attempts{0};
  auto remote = RemoteBackend::Open(
      [&](uint32_t) -> Result<std::unique_ptr<FrameStream>> {
        ++attempts;
        return Status(StatusCode::kPermissionDenied,
                      "peer certificate is for agent-x");
      },
      1, lt::FastLinkOptions());
  ASSERT_FALSE(remote.ok());
  EXPECT_EQ(remote.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(remote.status().message().find("agent-x"), std::string_view::npos);
  // Once when the client starts, and once more if the first call came after
  // that failed: never again and again.
  EXPECT_LE(attempts.load(), 2);
}

TEST_F(LinkTest, APeerThatDropsEveryConnectionEndsUnavailableToo) {
  lt::LinkHarness h(memory_.get());
  // Connections are made, and closed at once by the peer.
  h.set_wrap_receiver([](std::unique_ptr<FrameStream> s, uint32_t, int) {
    s->Close();
    return s;
  });
  LinkOptions options = lt::FastLinkOptions();
  options.peer = "agent-c";
  options.reconnect_budget = std::chrono::milliseconds(200);
  options.max_reconnect_delay = std::chrono::milliseconds(2000);
  auto failed = h.Open(1, options);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.status().message().find("agent-c"), std::string_view::npos)
      << failed.status().ToString();
  EXPECT_GT(h.connects(), 1);
}

// A receiver that answers what RemoteBackend::Open asks properly and
// everything else with garbage.
void HostileReceiver(std::unique_ptr<FrameStream> stream) {
  std::vector<std::byte> payload;
  while (true) {
    auto header = stream->Receive(&payload);
    if (!header.ok()) return;
    std::vector<std::byte> out;
    auto send_raw = [&](FrameType type, std::vector<uint8_t> bytes) {
      WireWriter w(&out);
      w.BeginFrame();
      for (uint8_t b : bytes) w.WriteU8(b);
      (void)w.EndFrame(type, header->stream);
    };
    if (header->type == FrameType::kChunk) {
      // An acknowledgement of a chunk never sent.
      ChunkAck ack;
      ack.offset = 999;
      ack.length = 1;
      (void)AppendFrame(&out, header->stream, ack);
    } else {
      auto q = DecodeRequest(payload);
      if (!q.ok()) return;
      switch (q->op) {
        case Op::kCapabilities:
        case Op::kDescribe:
        case Op::kClockOffset:
          (void)AppendResponse(&out, header->stream, q->op, Response());
          break;
        case Op::kOpenWrite: {
          Response r;
          r.handle = 1;
          (void)AppendResponse(&out, header->stream, q->op, r);
          break;
        }
        case Op::kStat:
          send_raw(FrameType::kResponse, {0, 0, 7});  // found: 7
          break;
        case Op::kRemove:
          send_raw(FrameType::kResponse, {99, 0});  // no such status
          break;
        case Op::kGetXattrs:
          send_raw(FrameType::kResponse, {0, 0, 0xff, 0xff, 0xff, 0x7f});
          break;
        case Op::kMakeDirectory: {
          const std::vector<std::byte> junk(12, std::byte{0xee});
          (void)stream->Send(junk);
          break;
        }
        default:
          send_raw(FrameType::kResponse, {0, 0});
          break;
      }
    }
    if (!out.empty() && !stream->Send(out).ok()) return;
  }
}

TEST_F(LinkTest, HostileAnswersFailTheCallCleanly) {
  std::mutex mu;
  std::vector<std::thread> receivers;
  Connector connector =
      [&](uint32_t index) -> Result<std::unique_ptr<FrameStream>> {
    auto [sender, receiver] =
        lt::StreamPair("hostile " + std::to_string(index));
    std::lock_guard lock(mu);
    receivers.emplace_back(HostileReceiver, std::move(receiver));
    return std::move(sender);
  };
  {
    ASSERT_OK_AND_ASSIGN(
        auto remote, RemoteBackend::Open(connector, 1, lt::FastLinkOptions()));
    auto st = remote->Stat(P("f"));
    EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument)
        << st.status().ToString();
    EXPECT_EQ(remote->Remove(P("f")).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(remote->GetXattrs(P("f")).status().code(),
              StatusCode::kInvalidArgument);
    // A header that does not decode fails what waits on the connection;
    // the next call connects again.
    EXPECT_EQ(remote->MakeDirectory(P("d")).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(remote->Stat(P("f")).status().code(),
              StatusCode::kInvalidArgument);
    // An acknowledgement of nothing sent fails the writer.
    WriteHints hints;
    hints.size = kLargeFile;
    ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
    (void)w->WriteAt(0, AsBytes("data"));
    Entry meta;
    meta.size = 4;
    EXPECT_EQ(w->Commit(meta, MetadataPolicy{}).code(),
              StatusCode::kInvalidArgument);
  }
  std::lock_guard lock(mu);
  for (std::thread& t : receivers) t.join();
}

TEST_F(LinkTest, CompressionShrinksWhatCompressesAndSkipsWhatDoesNot) {
  lt::LinkHarness h(memory_.get());
  LinkOptions options = lt::FastLinkOptions();
  options.compression = true;
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(2, options));
  std::string text;
  while (text.size() < 2 * kBlockSize) {
    text += "line " + std::to_string(text.size() % 977) + " of a log file\n";
  }
  LinkCounters& c = remote->counters();
  ASSERT_OK(ft::WriteFile(remote.get(), P("text"), text));
  EXPECT_EQ(c.chunk_bytes_read.load(), text.size());
  EXPECT_LT(c.chunk_bytes_sent.load(), text.size() / 4);
  EXPECT_TRUE(store_->GetFile("text") == text);

  const uint64_t read = c.chunk_bytes_read.load();
  const uint64_t sent = c.chunk_bytes_sent.load();
  const std::string random = RandomBytes(2 * kBlockSize, 4);
  ASSERT_OK(ft::WriteFile(remote.get(), P("random"), random));
  EXPECT_EQ(c.chunk_bytes_read.load() - read, random.size());
  EXPECT_EQ(c.chunk_bytes_sent.load() - sent, random.size());
  EXPECT_TRUE(store_->GetFile("random") == random);

  // Off: as read. (A session serves one sender: another one gets its own.)
  lt::LinkHarness h2(memory_.get());
  ASSERT_OK_AND_ASSIGN(auto plain, h2.Open(1));
  ASSERT_OK(ft::WriteFile(plain.get(), P("text2"), text));
  EXPECT_EQ(plain->counters().chunk_bytes_sent.load(), text.size());
}

TEST_F(LinkTest, CompressionBacksOffOnAFileThatDoesNotCompress) {
  lt::LinkHarness h(memory_.get());
  LinkOptions options = lt::FastLinkOptions();
  options.compression = true;
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1, options));
  LinkCounters& c = remote->counters();
  // Whole chunks (a writer sends what it is given in pieces of this).
  const size_t kPiece = remote->client().max_chunk_bytes();
  const std::string zeros(kPiece, '\0');
  // Pieces, in order: r r r z z z z z z z, each random one different.
  WriteHints hints;
  hints.size = 10 * kPiece;
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
  std::string want;
  for (int i = 0; i < 10; ++i) {
    const std::string piece = i < 3 ? RandomBytes(kPiece, 60 + i) : zeros;
    ASSERT_OK(w->WriteAt(i * kPiece, AsBytes(piece)));
    want += piece;
  }
  Entry meta;
  meta.size = 10 * kPiece;
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  // Tried at pieces 0 (no: skip 1), 2 (no: skip 2), 5 (yes: back to
  // trying each): pieces 3 and 4 are zeros that went as read.
  const uint64_t sent = c.chunk_bytes_sent.load();
  EXPECT_GE(sent, 5 * kPiece);
  EXPECT_LT(sent, 5 * kPiece + 5 * 1024);
  EXPECT_TRUE(store_->GetFile("f") == want);
}

// Small files (each one PUT_FILE) learn together whether compressing pays,
// with the chunks' backoff: after three random files, two of zeros go as
// read, and from the sixth file on each is compressed again.
TEST_F(LinkTest, CompressionBacksOffOnSmallFilesThatDoNotCompress) {
  lt::LinkHarness h(memory_.get());
  auto sent = std::make_shared<lt::CountingStream::Counts>();
  h.set_wrap_sender([sent](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<lt::CountingStream>(std::move(s), sent);
  });
  LinkOptions options = lt::FastLinkOptions();
  options.compression = true;
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1, options));
  constexpr size_t kSize = 4096;
  const std::string zeros(kSize, '\0');
  uint64_t before = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string content = i < 3 ? RandomBytes(kSize, 70 + i) : zeros;
    const RelPath path = P("s" + std::to_string(i));
    if (i == 0) before = sent->bytes.load();
    ASSERT_OK(ft::WriteFile(remote.get(), path, content));
    EXPECT_TRUE(store_->GetFile(path.str()) == content) << i;
  }
  // Tried at files 0 (no: skip 1), 2 (no: skip 2), 5 (yes: back to trying
  // each): 3 random files and 2 of zeros went as read, 5 compressed.
  const uint64_t bytes = sent->bytes.load() - before;
  EXPECT_GE(bytes, 5 * kSize);
  EXPECT_LT(bytes, 5 * kSize + 4096);
}

// Holds up the receiver's reading while closed.
class Gate {
 public:
  void Set(bool open) {
    std::lock_guard lock(mu_);
    open_ = open;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

class GatedStream : public lt::ForwardingStream {
 public:
  GatedStream(std::unique_ptr<FrameStream> inner, Gate* gate)
      : ForwardingStream(std::move(inner)), gate_(gate) {}
  Result<FrameHeader> Receive(std::vector<std::byte>* payload) override {
    gate_->Pass();
    return inner_->Receive(payload);
  }

 private:
  Gate* gate_;
};

TEST_F(LinkTest, AReceiverThatDoesNotReadHoldsTheSenderAtItsWindow) {
  lt::LinkHarness h(memory_.get());
  Gate gate;
  h.set_wrap_receiver([&gate](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<GatedStream>(std::move(s), &gate);
  });
  constexpr uint64_t kWindow = 256 << 10;
  constexpr size_t kPiece = 64 << 10;
  LinkOptions options = lt::FastLinkOptions();
  options.window_bytes = kWindow;
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1, options));
  const std::string content = RandomBytes(4 * kBlockSize, 5);
  WriteHints hints;
  hints.size = content.size();
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("f"), hints));
  gate.Set(false);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (size_t off = 0; off < content.size(); off += kPiece) {
      EXPECT_OK(w->WriteAt(
          off, AsBytes(std::string_view(content).substr(off, kPiece))));
    }
    done = true;
  });
  LinkCounters& c = remote->counters();
  // The window fills, and the writer waits for room.
  EXPECT_TRUE(Eventually([&] { return c.unacked_bytes.load() == kWindow; }));
  EXPECT_FALSE(done.load());
  gate.Set(true);
  writer.join();
  Entry meta;
  meta.size = content.size();
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_EQ(c.max_unacked_bytes.load(), kWindow);
  EXPECT_EQ(c.unacked_bytes.load(), 0u);
  EXPECT_TRUE(store_->GetFile("f") == content);
}

TEST_F(LinkTest, TheReceiverBoundsOpenWriters) {
  LinkSessionOptions bounds;
  bounds.max_writers = 2;
  lt::LinkHarness h(memory_.get(), bounds);
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
  WriteHints hints;
  hints.size = kLargeFile;
  ASSERT_OK_AND_ASSIGN(auto a, remote->OpenWrite(P("a"), hints));
  ASSERT_OK_AND_ASSIGN(auto b, remote->OpenWrite(P("b"), hints));
  auto c = remote->OpenWrite(P("c"), hints);
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  ASSERT_OK(a->Commit(Entry(), MetadataPolicy{}));
  EXPECT_OK(remote->OpenWrite(P("c"), hints).status());
  EXPECT_TRUE(store_->GetFile("a").has_value());
}

TEST_F(LinkTest, DigestsAreComputedWhereTheDataIs) {
  const std::string content = RandomBytes(5 * kBlockSize / 2, 6);
  store_->PutFile("f", content);
  lt::LinkHarness h(memory_.get());
  auto received = std::make_shared<std::atomic<uint64_t>>(0);
  class Counting : public lt::ForwardingStream {
   public:
    Counting(std::unique_ptr<FrameStream> s,
             std::shared_ptr<std::atomic<uint64_t>> n)
        : ForwardingStream(std::move(s)), n_(std::move(n)) {}
    Result<FrameHeader> Receive(std::vector<std::byte>* payload) override {
      auto h = inner_->Receive(payload);
      if (h.ok()) *n_ += payload->size();
      return h;
    }
    std::shared_ptr<std::atomic<uint64_t>> n_;
  };
  h.set_wrap_sender([received](std::unique_ptr<FrameStream> s, uint32_t, int) {
    return std::make_unique<Counting>(std::move(s), received);
  });
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
  for (DigestAlgorithm algo :
       {DigestAlgorithm::kXxh3_128, DigestAlgorithm::kSha256}) {
    const Digest want = DigestOfBuffer(algo, AsBytes(content));
    uint64_t reported = 0;
    ASSERT_OK_AND_ASSIGN(
        auto got, remote->ComputeDigest(P("f"), algo, {},
                                        [&](uint64_t n) { reported += n; }));
    EXPECT_EQ(got.first, want);
    EXPECT_EQ(got.second.size, content.size());
    EXPECT_EQ(reported, content.size());
    ASSERT_OK_AND_ASSIGN(auto via_verifier,
                         DigestFile(remote.get(), P("f"), algo, {}, nullptr));
    EXPECT_EQ(via_verifier.first, want);
  }
  EXPECT_LT(received->load(), uint64_t{64} << 10) << "the data came back";
  std::stop_source stop;
  stop.request_stop();
  EXPECT_TRUE(remote
                  ->ComputeDigest(P("f"), DigestAlgorithm::kSha256,
                                  stop.get_token(), nullptr)
                  .status()
                  .IsCancelled());
}

// From version 2 a status keeps its retryable flag and errno across the
// link, so the sender's engine retries (and its outage watch hears of) a
// fault the receiver's storage reported; version 1 carries neither.
TEST_F(LinkTest, AStatusKeepsItsRetryableFlagAndErrnoFromVersion2) {
  store_->PutFile("f", "x");
  const Status reset(StatusCode::kUnavailable, "connection reset by the NAS",
                     ECONNRESET, /*retryable=*/true);
  FaultInjectingBackend faulty(
      OpenMemoryBackend(store_),
      {{FaultOp::kStat, "f", reset, -1},
       {FaultOp::kOpenRead, "f",
        Status(StatusCode::kPermissionDenied, "not yours"), -1}});
  for (const uint8_t version : {uint8_t{1}, uint8_t{2}}) {
    SCOPED_TRACE(version);
    lt::LinkHarness h(&faulty);
    h.set_link_version(version);
    ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
    auto st = remote->Stat(P("f"));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(st.status().message().find("connection reset by the NAS"),
              std::string::npos);
    EXPECT_EQ(st.status().retryable(), version >= 2);
    EXPECT_EQ(st.status().sys_errno(), version >= 2 ? ECONNRESET : 0);
    auto open = remote->OpenRead(P("f"));
    ASSERT_FALSE(open.ok());
    EXPECT_EQ(open.status().code(), StatusCode::kPermissionDenied);
    EXPECT_FALSE(open.status().retryable());
  }
}

// Clean-up (a writer's abort, a reader's close) over a link that is down
// is not held up waiting for it to come back: the receiver does it when the
// link ends. (With the old blocking call this test waits out the hour-long
// reconnection budget.)
TEST_F(LinkTest, CleanUpOverALinkThatIsDownDoesNotWaitForIt) {
  store_->PutFile("r", "read me");
  lt::LinkHarness h(memory_.get());
  auto streams = std::make_shared<std::vector<FrameStream*>>();
  auto streams_mu = std::make_shared<std::mutex>();
  h.set_wrap_sender(
      [streams, streams_mu](std::unique_ptr<FrameStream> s, uint32_t, int) {
        std::lock_guard lock(*streams_mu);
        streams->push_back(s.get());
        return s;
      });
  LinkOptions options = lt::FastLinkOptions();
  options.reconnect_budget = std::chrono::hours(1);
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open(1, options));
  WriteHints hints;
  hints.size = 3 * kBlockSize;  // a writer at the receiver, not a PUT_FILE
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenWrite(P("w"), hints));
  ASSERT_OK(w->WriteAt(0, AsBytes(std::string(1000, 'w'))));
  ASSERT_OK_AND_ASSIGN(auto r, remote->OpenRead(P("r")));
  // The link goes down and stays down.
  h.set_refuse(true);
  const int before = h.connects();
  {
    std::lock_guard lock(*streams_mu);
    for (FrameStream* s : *streams) s->Close();
  }
  for (int i = 0; i < 3000 && h.connects() == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(h.connects(), before) << "the client never saw the link go";
  w->Abort();
  r.reset();
  w.reset();
}

TEST_F(LinkTest, SignaturesAndCopiesFromTheBasis) {
  // 200 blocks and a short one: the receiver hashes them on several
  // threads where it has the cores, in ranges put back in order.
  const std::string basis = RandomBytes((200 << 14) + 5000, 7);
  store_->PutFile("old", basis);
  lt::LinkHarness h(memory_.get());
  ASSERT_OK_AND_ASSIGN(auto remote, h.Open());
  EXPECT_TRUE(remote->capabilities().delta);

  constexpr uint32_t kBlock = 16 << 10;
  ASSERT_OK_AND_ASSIGN(SignatureList sigs,
                       remote->Signatures(P("old"), kBlock, 2, 1000));
  auto local = delta::ComputeSignatures(
      [&](uint64_t off, std::span<std::byte> out) -> Result<size_t> {
        const size_t n = std::min<size_t>(out.size(), basis.size() - off);
        std::memcpy(out.data(), basis.data() + off, n);
        return n;
      },
      basis.size(), kBlock, 2, 1000);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(sigs.first_block, 2u);
  EXPECT_EQ(sigs.blocks, *local);
  EXPECT_EQ(sigs.blocks.size(), (basis.size() + kBlock - 1) / kBlock - 2);
  ASSERT_OK_AND_ASSIGN(SignatureList page,
                       remote->Signatures(P("old"), kBlock, 2, 150));
  ASSERT_EQ(page.blocks.size(), 150u);
  EXPECT_TRUE(
      std::equal(page.blocks.begin(), page.blocks.end(), local->begin()));

  const std::string literal = RandomBytes(10 << 10, 8);
  const std::string want =
      basis.substr(50 << 10, 100 << 10) + literal + basis.substr(0, 16 << 10);
  WriteHints hints;
  hints.size = want.size();
  ASSERT_OK_AND_ASSIGN(auto w, remote->OpenRemoteWrite(P("new"), hints));
  ASSERT_OK(w->CopyFromBasis(0, P("old"), 50 << 10, 100 << 10));
  ASSERT_OK(w->WriteAt(100 << 10, AsBytes(literal)));
  ASSERT_OK(w->CopyFromBasis(110 << 10, P("old"), 0, 16 << 10));
  EXPECT_EQ(w->CopyFromBasis(0, P("old"), basis.size() - 10, 20).code(),
            StatusCode::kSourceChanged);
  Entry meta;
  meta.size = want.size();
  ASSERT_OK(w->Commit(meta, MetadataPolicy{}));
  EXPECT_TRUE(store_->GetFile("new") == want);
  EXPECT_FALSE(remote->Signatures(P("missing"), kBlock, 0, 10).ok());
}

}  // namespace
}  // namespace ferry::link
