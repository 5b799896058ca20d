// S3Client against an in-process HTTP server that misbehaves on purpose:
// throttling, dropped connections, refusals, endless and hostile bodies.
// Backoffs run on a ManualClock in auto-advance mode, so retries cost no
// real time.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "ferry/aws/sigv4.h"
#include "ferry/s3/s3_client.h"

namespace ferry {
namespace {

using Handler =
    std::function<void(const httplib::Request&, httplib::Response&, int)>;

// An HTTP server on 127.0.0.1 whose every request goes to one handler,
// with the number of the request (1-based).
class FakeS3 {
 public:
  explicit FakeS3(Handler handler) : handler_(std::move(handler)) {
    auto handle = [this](const httplib::Request& req, httplib::Response& res) {
      int n = ++requests_;
      {
        std::lock_guard lock(mu_);
        last_ = req;
      }
      handler_(req, res, n);
    };
    server_.Get(".*", handle);
    server_.Put(".*", handle);
    server_.Post(".*", handle);
    server_.Delete(".*", handle);
    server_.Options(".*", handle);
    server_.set_keep_alive_max_count(1000);  // httplib closes after 5
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Connections queue on the bound socket already; this only makes a
    // listener that failed to start fail the test rather than hang it.
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!server_.is_running()) {
      if (port_ < 0 || std::chrono::steady_clock::now() > until) {
        ADD_FAILURE() << "the fake S3 server did not start";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~FakeS3() {
    server_.stop();
    thread_.join();
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }
  int requests() const { return requests_; }
  httplib::Request last() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<int> requests_{0};
  std::mutex mu_;
  httplib::Request last_;
};

std::string ErrorXml(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code +
         "</Code><Message>" + message +
         "</Message><RequestId>req-1</RequestId></Error>";
}

// Promises all of `object` as the body, sends a tenth of it and hangs up.
void SendATenthThenHangUp(const std::string& object, httplib::Response& res) {
  res.set_content_provider(
      object.size(), "application/octet-stream",
      [&object](size_t offset, size_t, httplib::DataSink& sink) {
        if (offset > 0) return false;
        sink.write(object.data(), object.size() / 10);
        return true;
      });
}

class S3ClientFaultTest : public ::testing::Test {
 protected:
  S3ClientFaultTest() { clock_.set_auto_advance(true); }

  std::unique_ptr<S3Client> Client(const std::string& endpoint) {
    S3ClientOptions o;
    o.endpoint_url = endpoint;
    o.credentials = {"AKIDTEST", "secret", ""};
    o.retry.max_attempts = 4;
    o.clock = &clock_;
    o.connect_timeout = std::chrono::milliseconds(2000);
    o.stall_timeout = std::chrono::seconds(5);
    o.on_retry = [this](const S3RetryEvent& e) {
      ++retries_;
      std::lock_guard lock(mu_);
      retry_messages_.push_back(std::string(e.failure.message()));
    };
    auto client = S3Client::Create(std::move(o));
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(*client);
  }

  static std::span<const std::byte> Bytes(const std::string& s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
  }

  ManualClock clock_;
  std::atomic<int> retries_{0};
  std::mutex mu_;
  std::vector<std::string> retry_messages_;
};

TEST_F(S3ClientFaultTest, SlowDownTwiceThenSuccessIsRetriedTwice) {
  const std::string body = "hello, s3";
  FakeS3 server([](const httplib::Request&, httplib::Response& res, int n) {
    if (n <= 2) {
      res.status = 503;
      res.set_content(ErrorXml("SlowDown", "Please reduce your request rate."),
                      "application/xml");
      return;
    }
    res.set_header("ETag", "\"etag-1\"");
  });
  auto client = Client(server.url());
  auto put = client->PutObject("bucket", "dir/a b+c", Bytes(body),
                               {.content_type = "text/plain",
                                .storage_class = "STANDARD_IA",
                                .metadata = {{"mtime", "123"}},
                                .tags = {{"k 1", "v&2"}}});
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->etag, "\"etag-1\"");
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(retries_, 2);
  EXPECT_EQ(clock_.sleeps(), 2);
  EXPECT_NE(retry_messages_[0].find("PUT s3://bucket/dir/a b+c at " +
                                    server.url() + ": 503 SlowDown: Please"),
            std::string::npos)
      << retry_messages_[0];

  // What arrived: the path encoded once, the payload hash of the body, the
  // attributes as headers, all of them signed.
  httplib::Request req = server.last();
  EXPECT_EQ(req.target, "/bucket/dir/a%20b%2Bc");
  EXPECT_EQ(req.body, body);
  EXPECT_EQ(req.get_header_value("x-amz-content-sha256"), Sha256Hex(body));
  EXPECT_EQ(req.get_header_value("Content-Type"), "text/plain");
  EXPECT_EQ(req.get_header_value("x-amz-storage-class"), "STANDARD_IA");
  EXPECT_EQ(req.get_header_value("x-amz-meta-mtime"), "123");
  // (httplib decodes header values: sent as "k%201=v%262".)
  EXPECT_EQ(req.get_header_value("x-amz-tagging"), "k 1=v&2");
  EXPECT_FALSE(req.has_header("Expect"));
  std::string auth = req.get_header_value("Authorization");
  EXPECT_NE(auth.find("SignedHeaders=content-type;host;x-amz-content-sha256;"
                      "x-amz-date;x-amz-meta-mtime;x-amz-storage-class;"
                      "x-amz-tagging,"),
            std::string::npos)
      << auth;
}

TEST_F(S3ClientFaultTest, ConnectionClosedMidResponseIsRetried) {
  const std::string object(100000, 'x');
  FakeS3 server([&](const httplib::Request&, httplib::Response& res, int n) {
    res.status = 206;
    res.set_header("Content-Range", "bytes 0-" +
                                        std::to_string(object.size() - 1) +
                                        "/" + std::to_string(object.size()));
    if (n == 1) {
      SendATenthThenHangUp(object, res);
      return;
    }
    res.set_content(object, "application/octet-stream");
  });
  auto client = Client(server.url());
  std::vector<std::byte> buffer(object.size());
  auto got = client->GetObject("bucket", "k", 0, buffer);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, object.size());
  EXPECT_EQ(std::memcmp(buffer.data(), object.data(), object.size()), 0);
  EXPECT_EQ(retries_, 1);
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(server.last().get_header_value("Range"), "bytes=0-99999");
}

// Reads all of a stream; its failure, if it fails.
Result<std::string> ReadStream(HttpStream& stream) {
  std::string out;
  std::vector<std::byte> piece(30000);
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(size_t n, stream.Read(piece));
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(piece.data()), n);
  }
}

TEST_F(S3ClientFaultTest,
       AStreamedGetIsRetriedUntilItsHeadersThenLeftToTheReader) {
  const std::string object(100000, 'y');
  FakeS3 server(
      [&](const httplib::Request& req, httplib::Response& res, int n) {
        if (n == 1) {  // refused before any header: retried
          res.status = 503;
          res.set_content(ErrorXml("SlowDown", "slow down"), "application/xml");
          return;
        }
        if (n == 2) {  // a tenth of the range, then the connection drops
          EXPECT_EQ(req.get_header_value("Range"), "bytes=0-99999");
          res.status = 206;
          res.set_header("Content-Range", "bytes 0-99999/100000");
          SendATenthThenHangUp(object, res);
          return;
        }
        // (httplib answers the Range itself: 206 and the bytes asked for.)
        res.set_content(object, "application/octet-stream");
      });
  auto client = Client(server.url());
  auto stream = client->GetObjectStream("bucket", "k", 0, object.size());
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  EXPECT_EQ(retries_, 1);
  auto got = ReadStream(**stream);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().retryable()) << got.status().ToString();
  // The reader asks again from where it got to.
  const uint64_t at = (*stream)->position();
  EXPECT_EQ(at, object.size() / 10);
  auto rest = client->GetObjectStream("bucket", "k", at, object.size() - at);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  auto tail = ReadStream(**rest);
  ASSERT_TRUE(tail.ok()) << tail.status().ToString();
  EXPECT_TRUE(*tail == object.substr(at));
  EXPECT_EQ(server.last().get_header_value("Range"),
            "bytes=" + std::to_string(at) + "-99999");
  EXPECT_EQ(retries_, 1);
}

TEST_F(S3ClientFaultTest, AStreamedGetOfOtherBytesThanAskedIsAnError) {
  // A server that ignores Range: the whole object, from its start (chunked,
  // where httplib does not answer ranges itself).
  FakeS3 server([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 200;
    res.set_chunked_content_provider(
        "application/octet-stream", [](size_t offset, httplib::DataSink& sink) {
          if (offset == 0) sink.write(std::string(1000, 'z').data(), 1000);
          sink.done();
          return true;
        });
  });
  auto client = Client(server.url());
  auto from_start = client->GetObjectStream("bucket", "k", 0, 1000);
  ASSERT_TRUE(from_start.ok()) << from_start.status().ToString();
  auto got = ReadStream(**from_start);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->size(), 1000u);
  auto later = client->GetObjectStream("bucket", "k", 10, 990);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("asked for bytes from 10"),
            std::string_view::npos)
      << later.status().ToString();
  // Longer than the range: the read that meets the excess fails.
  auto shorter = client->GetObjectStream("bucket", "k", 0, 500);
  ASSERT_TRUE(shorter.ok()) << shorter.status().ToString();
  EXPECT_EQ(ReadStream(**shorter).status().code(),
            StatusCode::kResourceExhausted);
}

TEST_F(S3ClientFaultTest, ForbiddenIsNotRetried) {
  FakeS3 server([](const httplib::Request&, httplib::Response& res, int) {
    res.status = 403;
    res.set_content(ErrorXml("SignatureDoesNotMatch",
                             "The request signature we calculated does not "
                             "match the signature you provided."),
                    "application/xml");
  });
  auto client = Client(server.url());
  Status st = client->PutObject("bucket", "k", Bytes("x")).status();
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(st.retryable());
  EXPECT_EQ(st.message(),
            "PUT s3://bucket/k at " + server.url() +
                ": 403 SignatureDoesNotMatch: The request signature we "
                "calculated does not match the signature you provided. "
                "(request id req-1)");
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(retries_, 0);
}

TEST_F(S3ClientFaultTest, StatusCodesOfHeadAndGet) {
  FakeS3 server([](const httplib::Request& req, httplib::Response& res, int) {
    if (req.path == "/bucket/missing") {
      res.status = 404;
      if (req.method != "HEAD") {
        res.set_content(ErrorXml("NoSuchKey",
                                 "The specified key does not "
                                 "exist."),
                        "application/xml");
      }
    } else if (req.path == "/gone/k") {
      res.status = 404;
      res.set_content(ErrorXml("NoSuchBucket",
                               "The specified bucket does "
                               "not exist"),
                      "application/xml");
    } else if (req.has_header("If-Match")) {
      res.status = 412;
      res.set_content(ErrorXml("PreconditionFailed",
                               "At least one of the "
                               "pre-conditions you "
                               "specified did not hold"),
                      "application/xml");
    } else if (req.path == "/bucket/moved") {
      res.status = 301;
      res.set_header("Location", "http://elsewhere.example.com/bucket/moved");
    } else if (req.path == "/bucket/whole") {
      // The whole object, the Range ignored (chunked: httplib leaves it be).
      res.status = 200;
      res.set_chunked_content_provider(
          "text/plain", [](size_t offset, httplib::DataSink& sink) {
            if (offset == 0) sink.write("0123456789", 10);
            sink.done();
            return true;
          });
    } else if (req.path == "/bucket/end") {
      res.status = 416;
      res.set_content(ErrorXml("InvalidRange",
                               "The requested range is not "
                               "satisfiable"),
                      "application/xml");
    } else {
      res.set_header("ETag", "\"e\"");
      res.set_header("Last-Modified", "Wed, 12 Oct 2009 17:50:30 GMT");
      res.set_header("x-amz-meta-mode", "0644");
      res.set_header("x-amz-version-id", "v1");
      res.set_content("0123456789", "text/plain");
    }
  });
  auto client = Client(server.url());
  // httplib cuts any body to the requested range, error bodies included:
  // ask for more than they hold.
  std::vector<std::byte> buffer(4096);
  auto head = client->HeadObject("bucket", "missing");
  EXPECT_EQ(head.status().code(), StatusCode::kNotFound);
  EXPECT_NE(head.status().message().find("404 NotFound"), std::string::npos);
  auto get = client->GetObject("bucket", "missing", 0, buffer);
  EXPECT_TRUE(get.status().IsNotFound());
  EXPECT_NE(get.status().message().find("404 NoSuchKey: The specified key"),
            std::string::npos);
  get = client->GetObject("gone", "k", 0, buffer);
  EXPECT_EQ(get.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(get.status().message().find("the bucket does not exist"),
            std::string::npos);
  get = client->GetObject("bucket", "k", 0, buffer, "\"old\"");
  EXPECT_EQ(get.status().code(), StatusCode::kSourceChanged);
  EXPECT_EQ(server.last().get_header_value("If-Match"), "\"old\"");
  get = client->GetObject("bucket", "moved", 0, buffer);
  EXPECT_EQ(get.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(get.status().message().find(
                "served at http://elsewhere.example.com/bucket/moved"),
            std::string::npos);
  get = client->GetObject("bucket", "end", 100, buffer);
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(*get, 0u);
  EXPECT_EQ(retries_, 0);

  head = client->HeadObject("bucket", "k");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->size, 10u);
  EXPECT_EQ(head->etag, "\"e\"");
  EXPECT_EQ(head->last_modified_ns, 1255369830000000000);
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_EQ(head->version_id, "v1");
  EXPECT_EQ(head->metadata,
            (std::map<std::string, std::string>{{"mode", "0644"}}));
  // A 200 to a ranged read from 0 that fits; a body longer than the span.
  std::vector<std::byte> ten(10), four(4);
  EXPECT_EQ(*client->GetObject("bucket", "whole", 0, ten), 10u);
  auto too_long = client->GetObject("bucket", "whole", 0, four);
  EXPECT_EQ(too_long.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(too_long.status().message().find("longer than the 4 bytes"),
            std::string::npos)
      << too_long.status().ToString();
  // From an offset, a 200 (the whole object) is refused.
  EXPECT_NE(client->GetObject("bucket", "whole", 2, ten)
                .status()
                .message()
                .find("ignored the Range"),
            std::string::npos);
  // A 206 whose Content-Range is not the range asked for.
  EXPECT_NE(client->GetObject("bucket", "k", 2, ten)
                .status()
                .message()
                .find("Content-Range"),
            std::string::npos);
}

TEST_F(S3ClientFaultTest, EndlessBodyIsCutOff) {
  const std::string chunk(64 << 10, '<');
  FakeS3 server([&](const httplib::Request&, httplib::Response& res, int) {
    res.set_chunked_content_provider(
        "application/xml", [&](size_t, httplib::DataSink& sink) {
          return sink.write(chunk.data(), chunk.size());
        });
  });
  auto client = Client(server.url());
  auto page = client->ListObjectsV2("bucket", {});
  EXPECT_EQ(page.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(page.status().message().find("response body longer than 16777216"),
            std::string::npos)
      << page.status().ToString();
  EXPECT_EQ(server.requests(), 1);
}

TEST_F(S3ClientFaultTest, HostileListingsAreErrors) {
  std::string body;
  FakeS3 server([&](const httplib::Request& req, httplib::Response& res, int) {
    EXPECT_EQ(req.get_param_value("list-type"), "2");
    EXPECT_EQ(req.get_param_value("encoding-type"), "url");
    EXPECT_EQ(req.get_param_value("max-keys"), "1000");
    EXPECT_EQ(req.get_param_value("prefix"), "a b/");
    res.set_content(body, "application/xml");
  });
  auto client = Client(server.url());
  auto list = [&] {
    return client->ListObjectsV2("bucket",
                                 {.prefix = "a b/", .max_keys = 5000});
  };
  body =
      "<ListBucketResult><MaxKeys>18446744073709551616</MaxKeys>"
      "</ListBucketResult>";
  EXPECT_EQ(list().status().code(), StatusCode::kIoError);
  EXPECT_NE(
      list().status().message().find("GET s3://bucket at " + server.url() +
                                     ": malformed ListObjectsV2"),
      std::string::npos)
      << list().status().ToString();
  body = "<ListBucketResult><Contents><Key>" + std::string(5000, 'k') +
         "</Key><Size>1</Size><LastModified>2020-01-01T00:00:00Z"
         "</LastModified></Contents></ListBucketResult>";
  EXPECT_NE(list().status().message().find("longer than"), std::string::npos);
  body =
      "<ListBucketResult><Contents><Key>k</Key><Size>-5</Size>"
      "</Contents></ListBucketResult>";
  EXPECT_FALSE(list().ok());
  EXPECT_EQ(retries_, 0);
  body =
      "<ListBucketResult><Contents><Key>k%20x</Key><Size>1</Size>"
      "<ETag>\"e\"</ETag><LastModified>2020-01-01T00:00:00Z</LastModified>"
      "</Contents><EncodingType>url</EncodingType></ListBucketResult>";
  auto page = list();
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->objects[0].key, "k x");
}

TEST_F(S3ClientFaultTest, CompleteAnsweredWithAnErrorIsRetried) {
  FakeS3 server([](const httplib::Request& req, httplib::Response& res, int n) {
    EXPECT_EQ(req.get_param_value("uploadId"), "up/1");
    EXPECT_NE(req.body.find("<PartNumber>2</PartNumber>"), std::string::npos);
    if (n == 1) {
      res.set_content(ErrorXml("InternalError",
                               "We encountered an internal "
                               "error. Please try again."),
                      "application/xml");
      return;
    }
    res.set_content(
        "<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag>"
        "</CompleteMultipartUploadResult>",
        "application/xml");
  });
  auto client = Client(server.url());
  auto done = client->CompleteMultipartUpload("bucket", "k", "up/1",
                                              {{1, "\"a\""}, {2, "\"b\""}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->etag, "\"abc-2\"");
  EXPECT_EQ(retries_, 1);
  EXPECT_NE(retry_messages_[0].find("200 InternalError"), std::string::npos);
  // Out-of-order parts are refused before anything is sent.
  EXPECT_EQ(client
                ->CompleteMultipartUpload("bucket", "k", "up/1",
                                          {{2, "\"b\""}, {1, "\"a\""}})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(server.requests(), 2);
}

TEST_F(S3ClientFaultTest, ConnectionRefusedIsRetriedThenReported) {
  int port;
  {
    FakeS3 closed([](const httplib::Request&, httplib::Response&, int) {});
    port = std::stoi(closed.url().substr(closed.url().rfind(':') + 1));
  }
  auto client = Client("http://127.0.0.1:" + std::to_string(port));
  Status st = client->HeadBucket("bucket");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(st.retryable());
  EXPECT_NE(st.message().find("HEAD s3://bucket at http://127.0.0.1:"),
            std::string::npos)
      << st.ToString();
  EXPECT_EQ(retries_, 3);  // 4 attempts
}

// HEAD answers have no body: a missing bucket is a bare 404, which
// HeadBucket reports as S3's NoSuchBucket (kFailedPrecondition), never as
// kNotFound ("nothing there yet", which `ferry sync --dry-run` took for an
// empty destination); a 403 stays kPermissionDenied.
TEST_F(S3ClientFaultTest, HeadBucketOfAMissingBucketSaysItDoesNotExist) {
  FakeS3 server([](const httplib::Request& req, httplib::Response& res, int) {
    // Path-style: "/BUCKET/".
    res.status = req.path.starts_with("/mine")     ? 200
                 : req.path.starts_with("/theirs") ? 403
                                                   : 404;
  });
  auto client = Client(server.url());
  EXPECT_TRUE(client->HeadBucket("mine").ok());
  Status st = client->HeadBucket("gone");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_FALSE(st.retryable());
  EXPECT_NE(st.message().find("HEAD s3://gone at " + server.url() +
                              ": 404 NotFound (the bucket does not exist)"),
            std::string::npos)
      << st.ToString();
  st = client->HeadBucket("theirs");
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.ToString();
  EXPECT_NE(st.message().find("403 Forbidden"), std::string::npos)
      << st.ToString();
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(retries_, 0);
}

TEST_F(S3ClientFaultTest, DeleteObjectsBatchesAndReportsPerKeyErrors) {
  FakeS3 server([](const httplib::Request& req, httplib::Response& res, int) {
    EXPECT_TRUE(req.has_param("delete"));
    EXPECT_TRUE(req.has_header("Content-MD5"));
    size_t keys = 0;
    for (size_t at = req.body.find("<Key>"); at != std::string::npos;
         at = req.body.find("<Key>", at + 1)) {
      ++keys;
    }
    EXPECT_LE(keys, 1000u);
    res.set_content(
        "<DeleteResult><Error><Key>k" + std::to_string(keys) +
            "</Key><Code>AccessDenied</Code><Message>no</Message></Error>"
            "</DeleteResult>",
        "application/xml");
  });
  auto client = Client(server.url());
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) keys.push_back("k" + std::to_string(i));
  auto errors = client->DeleteObjects("bucket", keys);
  ASSERT_TRUE(errors.ok()) << errors.status().ToString();
  EXPECT_EQ(server.requests(), 3);
  ASSERT_EQ(errors->size(), 3u);
  EXPECT_EQ((*errors)[0].key, "k1000");
  EXPECT_EQ((*errors)[2].key, "k500");
  EXPECT_EQ((*errors)[2].code, "AccessDenied");
}

TEST_F(S3ClientFaultTest, ConnectionsAreReusedAcrossCallsAndThreads) {
  std::mutex mu;
  std::set<int> ports;
  FakeS3 server([&](const httplib::Request& req, httplib::Response&, int) {
    std::lock_guard lock(mu);
    ports.insert(req.remote_port);
  });
  auto client = Client(server.url());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client->HeadBucket("bucket").ok());
  EXPECT_EQ(ports.size(), 1u);
  // Four threads at once: at most four connections, each reused.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(client->PutObject("bucket", "k", Bytes("abc")).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(server.requests(), 60);
  EXPECT_LE(ports.size(), 5u);
}

TEST_F(S3ClientFaultTest, ArgumentsAreCheckedBeforeSending) {
  FakeS3 server([](const httplib::Request&, httplib::Response&, int) {});
  auto client = Client(server.url());
  EXPECT_EQ(
      client->HeadObject("bucket", std::string(1025, 'k')).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(client->HeadObject("b", "k").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client->UploadPart("bucket", "k", "id", 10001, {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      client->PutObject("bucket", "k", {}, {.metadata = {{"Bad Name", "v"}}})
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      client->PutObject("bucket", "k", {}, {.metadata = {{"n", "line\nbreak"}}})
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(server.requests(), 0);
  EXPECT_FALSE(S3Client::Create({.endpoint_url = server.url()}).ok());
  EXPECT_FALSE(S3Client::Create({.endpoint_url = server.url(),
                                 .credentials = {"a", "b", ""},
                                 .ca_file = "/nonexistent/ca.pem"})
                   .ok());
}

}  // namespace
}  // namespace ferry
