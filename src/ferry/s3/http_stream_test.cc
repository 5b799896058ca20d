// HttpClient::Open and HttpStream against an in-process HTTP server: a body
// read in pieces as it arrives, error answers, a body longer than allowed,
// a connection dropped midway, a stop.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "ferry/s3/http.h"

namespace ferry {
namespace {

// Bytes that tell their offset: a piece read at the wrong place differs.
std::string OffsetPattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 7 + i / 4093) & 0xff);
  }
  return s;
}

class StreamServer {
 public:
  StreamServer() {
    server_.Get(".*",
                [this](const httplib::Request& req, httplib::Response& res) {
                  ++requests_;
                  Handle(req, res);
                });
    server_.set_keep_alive_max_count(1000);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running() && port_ > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~StreamServer() {
    server_.stop();
    thread_.join();
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int requests() const { return requests_; }

  const std::string body = OffsetPattern(5 << 20);

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/missing") {
      res.status = 404;
      res.set_content("<Error>no such thing</Error>", "application/xml");
      return;
    }
    // /drop: says 5 MiB, sends one and closes the connection.
    const bool drop = req.path == "/drop";
    res.set_content_provider(
        body.size(), "application/octet-stream",
        [this, drop](size_t offset, size_t length, httplib::DataSink& sink) {
          if (drop && offset >= (1 << 20)) return false;
          const size_t n = std::min<size_t>(length, 64 << 10);
          return sink.write(body.data() + offset, n);
        });
  }

  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<int> requests_{0};
};

class HttpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpClientOptions o;
    o.low_speed_time = std::chrono::seconds(5);
    auto c = HttpClient::Create(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c).value();
  }

  std::unique_ptr<HttpStream> Open(const std::string& path,
                                   uint64_t max_body = 1 << 30,
                                   HttpResponse* response = nullptr,
                                   const std::stop_token& stop = {}) {
    HttpResponse scratch;
    if (response == nullptr) response = &scratch;
    std::unique_ptr<HttpStream> stream;
    Status st = client_->Open(HttpRequest{"GET", server_.Url(path), {}, {}},
                              max_body, response, &stream, stop);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return stream;
  }

  // Reads the whole body in pieces of `piece` bytes.
  Result<std::string> ReadAll(HttpStream& stream, size_t piece) {
    std::string out;
    std::vector<std::byte> buf(piece);
    for (;;) {
      FERRY_ASSIGN_OR_RETURN(size_t n, stream.Read(buf));
      if (n == 0) return out;
      out.append(reinterpret_cast<const char*>(buf.data()), n);
      if (n < piece) {
        // The end, or a failure next.
        FERRY_ASSIGN_OR_RETURN(size_t after, stream.Read(buf));
        EXPECT_EQ(after, 0u) << "a short read before the end";
        return out;
      }
    }
  }

  StreamServer server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpStreamTest, ReadsTheBodyInPiecesAsItArrives) {
  HttpResponse response;
  auto stream = Open("/blob", 1 << 30, &response);
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("content-length"),
            std::to_string(server_.body.size()));
  // Pieces that do not divide the server's writes.
  auto got = ReadAll(*stream, 100003);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == server_.body) << "the body differs";
  EXPECT_EQ(stream->position(), server_.body.size());
  std::byte more[16];
  auto after = stream->Read(more);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, 0u);
}

TEST_F(HttpStreamTest, StreamsOneAfterAnotherAndAfterOneAbandoned) {
  for (int i = 0; i < 3; ++i) {
    auto stream = Open("/blob");
    ASSERT_NE(stream, nullptr);
    auto got = ReadAll(*stream, 1 << 20);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->size(), server_.body.size());
  }
  // And one abandoned midway, then one more.
  auto half = Open("/blob");
  ASSERT_NE(half, nullptr);
  std::vector<std::byte> buf(1 << 20);
  ASSERT_TRUE(half->Read(buf).ok());
  half.reset();
  auto last = Open("/blob");
  ASSERT_NE(last, nullptr);
  auto got = ReadAll(*last, 1 << 20);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == server_.body);
  EXPECT_EQ(server_.requests(), 5);
}

TEST_F(HttpStreamTest, ASlowReaderHoldsTheServerBackInsteadOfBuffering) {
  auto stream = Open("/blob");
  ASSERT_NE(stream, nullptr);
  std::string got;
  std::vector<std::byte> buf(4096);
  size_t most = 0;
  while (got.size() < server_.body.size()) {
    // Time for the server to send all it can.
    if (got.size() < (64 << 10)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto n = stream->Read(buf);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_GT(*n, 0u);
    got.append(reinterpret_cast<const char*>(buf.data()), *n);
    most = std::max(most, stream->buffered());
  }
  EXPECT_TRUE(got == server_.body) << "the body differs";
  // The rest of one receive buffer at most: paused once the reader's
  // buffer is full (without the pause, megabytes).
  EXPECT_GT(most, 0u);
  EXPECT_LE(most, 256u << 10);
}

TEST_F(HttpStreamTest, AnErrorAnswerHasItsBodyAndNoStream) {
  HttpResponse response;
  auto stream = Open("/missing", 1 << 30, &response);
  EXPECT_EQ(stream, nullptr);
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, "<Error>no such thing</Error>");
}

TEST_F(HttpStreamTest, ABodyLongerThanAllowedFailsTheRead) {
  auto stream = Open("/blob", 3 << 20);
  ASSERT_NE(stream, nullptr);
  auto got = ReadAll(*stream, 1 << 20);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kResourceExhausted)
      << got.status().ToString();
  // And every read after it.
  std::byte more[16];
  EXPECT_FALSE(stream->Read(more).ok());
}

TEST_F(HttpStreamTest, AConnectionDroppedMidwayIsARetryableFailure) {
  auto stream = Open("/drop");
  ASSERT_NE(stream, nullptr);
  auto got = ReadAll(*stream, 256 << 10);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable)
      << got.status().ToString();
  EXPECT_TRUE(got.status().retryable());
  // Every byte that came before the drop was read.
  EXPECT_EQ(stream->position(), 1u << 20);
  EXPECT_LT(stream->position(), server_.body.size());
}

TEST_F(HttpStreamTest, AStopEndsTheReads) {
  std::stop_source stop;
  auto stream = Open("/blob", 1 << 30, nullptr, stop.get_token());
  ASSERT_NE(stream, nullptr);
  std::vector<std::byte> buf(1 << 20);
  ASSERT_TRUE(stream->Read(buf).ok());
  stop.request_stop();
  auto got = ReadAll(*stream, 1 << 20);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().IsCancelled()) << got.status().ToString();
}

}  // namespace
}  // namespace ferry
