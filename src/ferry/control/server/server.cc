// Server: the HTTPS listener of `ferry server` (cpp-httplib over OpenSSL).
// The DataSync API is checked in the order docs/control-plane.md gives:
// SigV4, the operation, the request against the model; then the handler
// runs. Agents present client certificates signed by the server's authority;
// the TLS layer asks every client for one but requires none, so that API
// callers need no certificate.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#include "ferry/control/server/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "ferry/base/file_util.h"
#include "ferry/base/net_address.h"
#include "ferry/base/rel_path.h"
#include "ferry/control/auth/sigv4.h"
#include "ferry/control/model/api_model.h"
#include "ferry/control/server/agent_service.h"
#include "ferry/control/server/api.h"
#include "ferry/control/server/data_dir.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::control {
namespace {

using nlohmann::json;

// Bodies: an API request is small (the largest members are a 100 KiB filter
// and a 128 KiB krb5.conf); an agent's sync carries up to 64 reports.
constexpr size_t kMaxApiBody = 1 << 20;
constexpr size_t kMaxBody = protocol::kMaxMessageBytes + (64 << 10);
// Threads serving connections: each agent keeps one connection open.
constexpr size_t kServerThreads = 64;
constexpr size_t kKeepAliveRequests = 1000;
// An idle keep-alive connection is closed after this long. Agents sync every
// second (PollIntervalMs), so theirs stay open; and a stopping server waits
// for idle connections at most this long (cpp-httplib's default, 5 s, made
// every restart 5 s long).
constexpr time_t kKeepAliveIdleSeconds = 2;

const char kJsonType[] = "application/x-amz-json-1.1";

bool IsLoopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return false;
}

std::string RequestId() {
  unsigned char b[16];
  RAND_bytes(b, sizeof(b));
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%"
                "02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The verified client certificate's common name ("" when the client showed
// none, or one the authority did not sign).
std::string VerifiedPeerName(const httplib::Request& req) {
  if (req.ssl == nullptr) return "";
  if (SSL_get_verify_result(req.ssl) != X509_V_OK) return "";
  X509* cert = SSL_get0_peer_certificate(req.ssl);
  if (cert == nullptr) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  std::string pem;
  if (PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) pem.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  auto name = pki::CommonName(pem);
  return name.ok() ? *name : "";
}

template <typename T>
struct OpenSslFree;
template <>
struct OpenSslFree<X509> {
  void operator()(X509* p) const { X509_free(p); }
};
template <>
struct OpenSslFree<EVP_PKEY> {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
template <typename T>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree<T>>;

OpenSslPtr<X509> ReadCertificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  return OpenSslPtr<X509>(x);
}

OpenSslPtr<EVP_PKEY> ReadKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k =
      bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  return OpenSslPtr<EVP_PKEY>(k);
}

// The TLS context: the server's certificate; client certificates asked for,
// not required, and verified against the authority when given.
bool SetUpTls(SSL_CTX& ctx, const std::string& cert_pem,
              const std::string& key_pem, const std::string& ca_pem) {
  auto cert = ReadCertificate(cert_pem);
  auto key = ReadKey(key_pem);
  auto ca = ReadCertificate(ca_pem);
  if (!cert || !key || !ca) return false;
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate(&ctx, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(&ctx, key.get()) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    return false;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(&ctx);
  if (X509_STORE_add_cert(store, ca.get()) != 1) return false;
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (names == nullptr) return false;
  sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
  SSL_CTX_set_client_CA_list(&ctx, names);
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  static const unsigned char kSessionContext[] = "ferry-server";
  SSL_CTX_set_session_id_context(&ctx, kSessionContext,
                                 sizeof(kSessionContext) - 1);
  return true;
}

void SendJson(httplib::Response& res, int status, const json& body,
              const std::string& request_id) {
  res.status = status;
  res.set_header("x-amzn-RequestId", request_id);
  res.set_content(Dump(body), kJsonType);
}

void SendError(httplib::Response& res, const ApiError& e,
               const std::string& request_id) {
  res.set_header("x-amzn-ErrorType", e.type);
  SendJson(res, e.http_status, e.ToJson(), request_id);
}

ApiError ErrorOf(int status, const char* type, std::string message) {
  ApiError e;
  e.http_status = status;
  e.type = type;
  e.message = std::move(message);
  return e;
}

// A Status from AgentService as an HTTP answer (agents read the message).
void SendAgentError(httplib::Response& res, const Status& st) {
  int code = 500;
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      code = 400;
      break;
    case StatusCode::kNotFound:
      code = 404;
      break;
    case StatusCode::kPermissionDenied:
      code = 403;
      break;
    case StatusCode::kResourceExhausted:
      code = 429;
      break;
    case StatusCode::kUnavailable:
      code = 503;
      break;
    default:
      break;
  }
  std::string message = code == 500 ? "internal error; the server's log has "
                                      "the details"
                                    : std::string(st.message());
  if (code == 500) {
    std::fprintf(stderr, "ferry server: agent endpoint: %s\n",
                 EscapeForDisplay(st.ToString()).c_str());
  }
  res.status = code;
  res.set_content(Dump(json{{"ProtocolVersion", protocol::kProtocolVersion},
                            {"Message", message}}),
                  "application/json");
}

}  // namespace

struct Server::Impl {
  ServerContext ctx;
  ApiRegistry apis = AllApis();
  HostPort listen;
  bool tls = true;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::unique_ptr<AgentService> agents;
  std::unique_ptr<httplib::Server> http;
  std::atomic<int> port{0};
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> serving{false};

  void HandleApi(const httplib::Request& req, httplib::Response& res);
  void HandleActivation(const httplib::Request& req, httplib::Response& res);
  void HandleActivationState(const httplib::Request& req,
                             httplib::Response& res);
  void HandleSync(const httplib::Request& req, httplib::Response& res);
  std::optional<std::string> SecretFor(std::string_view access_key_id);
  Status SetUpHttp();
};

std::optional<std::string> Server::Impl::SecretFor(
    std::string_view access_key_id) {
  std::optional<std::string> sealed;
  Status st = ctx.db->Transaction([&](SqlSession& s) -> Status {
    FERRY_ASSIGN_OR_RETURN(
        sealed, ctx.store.GetAccessKey(s, std::string(access_key_id)));
    return Status::Ok();
  });
  if (!st.ok()) {
    std::fprintf(stderr, "ferry server: reading access keys: %s\n",
                 EscapeForDisplay(st.ToString()).c_str());
    return std::nullopt;
  }
  if (!sealed) return std::nullopt;
  const std::string id(access_key_id);
  auto secret = ctx.sealer->Open(*sealed, StateStore::AccessKeySecretPlace(id));
  if (!secret.ok()) {
    std::fprintf(stderr, "ferry server: opening access key %s: %s\n",
                 EscapeForDisplay(access_key_id).c_str(),
                 EscapeForDisplay(secret.status().ToString()).c_str());
    return std::nullopt;
  }
  return *secret;
}

void Server::Impl::HandleApi(const httplib::Request& req,
                             httplib::Response& res) {
  const auto started = std::chrono::steady_clock::now();
  const std::string request_id = RequestId();
  const std::string target = req.get_header_value("X-Amz-Target");
  const std::string prefix = "FmrsService.";
  std::string operation =
      target.rfind(prefix, 0) == 0 ? target.substr(prefix.size()) : target;
  std::string caller;
  auto log = [&](int status) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    // The operation is the X-Amz-Target header as sent (before it is
    // checked): escaped, as everything a peer sent is in the log.
    std::fprintf(
        stderr, "ferry server: %s %s %s %d %lldms%s%s\n",
        req.remote_addr.c_str(),
        caller.empty() ? "-" : EscapeForDisplay(caller).c_str(),
        operation.empty() ? "-" : EscapeForDisplay(operation).c_str(), status,
        static_cast<long long>(ms), status >= 400 ? " " : "",
        status >= 400 ? res.get_header_value("x-amzn-ErrorType").c_str() : "");
  };
  auto fail = [&](const ApiError& e) {
    SendError(res, e, request_id);
    log(e.http_status);
  };
  if (req.body.size() > kMaxApiBody) {
    fail(ErrorOf(413, "RequestEntityTooLargeException",
                 "The request body is larger than " +
                     std::to_string(kMaxApiBody) + " bytes."));
    return;
  }

  // 1. Who is calling.
  SignableRequest signable;
  signable.method = req.method;
  size_t q = req.target.find('?');
  signable.path = req.target.substr(0, q);
  if (q != std::string::npos) signable.query = req.target.substr(q + 1);
  for (const auto& [name, value] : req.headers) {
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" ||
        name == "LOCAL_ADDR" || name == "LOCAL_PORT") {
      continue;  // added by cpp-httplib, not sent by the client
    }
    signable.headers.emplace_back(name, value);
  }
  signable.body = req.body;
  auto verified = VerifyRequest(
      signable, "datasync",
      [this](std::string_view id) { return SecretFor(id); },
      std::chrono::system_clock::now());
  if (auto* e = std::get_if<ApiError>(&verified)) {
    fail(*e);
    return;
  }
  caller = std::get<VerifiedCaller>(verified).access_key_id;

  // 2. Which operation.
  const ApiModel& model = ApiModel::DataSync();
  if (target.rfind(prefix, 0) != 0 ||
      !model.HasOperation(target.substr(prefix.size()))) {
    fail(ErrorOf(400, "UnknownOperationException",
                 target.empty() ? "The X-Amz-Target header is missing."
                                : "Unknown operation " + target + "."));
    return;
  }
  operation = target.substr(prefix.size());
  auto handler = apis.find(operation);
  if (handler == apis.end()) {
    fail(InvalidRequest("ferry does not support the operation " + operation +
                        "."));
    return;
  }

  // 3. The request against the model.
  json body = req.body.empty()
                  ? json::object()
                  : json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    fail(ErrorOf(400, "SerializationException",
                 "The request body is not a JSON object."));
    return;
  }
  if (auto e = model.ValidateInput(operation, body)) {
    fail(*e);
    return;
  }

  // 4. The handler.
  ApiCall call{ctx, operation, caller, std::move(body)};
  ApiResult result;
  try {
    result = handler->second(call);
  } catch (const std::exception& ex) {
    result = Internal(Status::Internal(operation + ": " + ex.what()));
  }
  if (auto* e = std::get_if<ApiError>(&result)) {
    fail(*e);
    return;
  }
  SendJson(res, 200, std::get<json>(result), request_id);
  log(200);
}

void Server::Impl::HandleActivation(const httplib::Request& req,
                                    httplib::Response& res) {
  auto request = protocol::DecodeActivationRequest(req.body);
  if (!request.ok()) {
    SendAgentError(res, request.status());
    return;
  }
  auto grant = agents->Activate(*request, req.remote_addr);
  if (!grant.ok()) {
    SendAgentError(res, grant.status());
    return;
  }
  res.set_content(Dump(protocol::Encode(*grant)), "application/json");
}

void Server::Impl::HandleActivationState(const httplib::Request& req,
                                         httplib::Response& res) {
  auto state = agents->ActivationState(req.get_param_value("key"),
                                       req.get_param_value("token"));
  if (!state.ok()) {
    SendAgentError(res, state.status());
    return;
  }
  res.set_content(Dump(protocol::Encode(*state)), "application/json");
}

void Server::Impl::HandleSync(const httplib::Request& req,
                              httplib::Response& res) {
  const std::string agent_id = VerifiedPeerName(req);
  if (agent_id.empty()) {
    SendAgentError(res, Status(StatusCode::kPermissionDenied,
                               "agents sync with the client certificate the "
                               "server's authority signed at activation"));
    std::fprintf(stderr,
                 "ferry server: %s /agent/v1/sync without a verified client "
                 "certificate: 403\n",
                 req.remote_addr.c_str());
    return;
  }
  auto request = protocol::DecodeSyncRequest(req.body);
  if (!request.ok()) {
    SendAgentError(res, request.status());
    return;
  }
  auto answer = agents->Sync(agent_id, *request);
  if (!answer.ok()) {
    std::fprintf(stderr, "ferry server: sync from %s: %s\n",
                 EscapeForDisplay(agent_id).c_str(),
                 EscapeForDisplay(answer.status().ToString()).c_str());
    SendAgentError(res, answer.status());
    return;
  }
  res.set_content(Dump(protocol::Encode(*answer)), "application/json");
}

// Makes the listener and its routes (not bound yet).
Status Server::Impl::SetUpHttp() {
  Impl& impl = *this;
  if (impl.tls) {
    impl.http = std::make_unique<httplib::SSLServer>([&impl](SSL_CTX& ctx) {
      return SetUpTls(ctx, impl.server_cert_pem, impl.server_key_pem,
                      impl.ctx.authority.certificate_pem);
    });
    if (!impl.http->is_valid()) {
      return Status::InvalidArgument(
          "cannot set up TLS with " +
          DataDirPath(impl.ctx.config.data_dir, "server.pem") + " and " +
          DataDirPath(impl.ctx.config.data_dir, "server.key") +
          " (do the certificate and key belong together?)");
    }
  } else {
    impl.http = std::make_unique<httplib::Server>();
  }
  httplib::Server& http = *impl.http;
  http.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  http.set_payload_max_length(kMaxBody);
  http.set_keep_alive_max_count(kKeepAliveRequests);
  http.set_keep_alive_timeout(kKeepAliveIdleSeconds);
  http.set_read_timeout(std::chrono::seconds(30));
  http.set_write_timeout(std::chrono::seconds(30));
  http.Post("/", [&impl](const httplib::Request& req, httplib::Response& res) {
    impl.HandleApi(req, res);
  });
  http.Post("/agent/v1/activation",
            [&impl](const httplib::Request& req, httplib::Response& res) {
              impl.HandleActivation(req, res);
            });
  http.Get("/agent/v1/activation",
           [&impl](const httplib::Request& req, httplib::Response& res) {
             impl.HandleActivationState(req, res);
           });
  http.Post("/agent/v1/sync",
            [&impl](const httplib::Request& req, httplib::Response& res) {
              impl.HandleSync(req, res);
            });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        ApiError e = Internal(Status::Internal("a request handler threw"));
        res.status = 500;
        res.set_content(Dump(e.ToJson()), kJsonType);
      });

  return Status::Ok();
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Open(ServerConfig config) {
  FERRY_ASSIGN_OR_RETURN(DataDirConfig file,
                         ReadDataDirConfig(config.data_dir));
  FERRY_RETURN_IF_ERROR(SecureDataDir(config.data_dir));
  if (!file.region.empty()) config.region = file.region;
  if (!file.account.empty()) config.account = file.account;
  if (config.listen.empty()) {
    config.listen = file.listen.empty() ? "127.0.0.1:8443" : file.listen;
  }
  if (config.db.empty()) config.db = file.db;

  auto impl = std::make_unique<Impl>();
  auto listen = ParseHostPort(config.listen, {.allow_port_zero = true});
  if (!listen.ok()) {
    return Status::InvalidArgument("the listen address: " +
                                   std::string(listen.status().message()));
  }
  impl->listen = std::move(listen).value();
  impl->tls = !config.plain_http;
  if (config.plain_http && !IsLoopback(impl->listen.host)) {
    return Status::InvalidArgument(
        "--plain-http is allowed only on a loopback address (127.0.0.1, ::1, "
        "localhost), and " +
        impl->listen.host +
        " is not one: serve HTTPS (the default) on other addresses");
  }
  const std::string& dir = config.data_dir;
  ServerContext& ctx = impl->ctx;
  FERRY_ASSIGN_OR_RETURN(ctx.authority.certificate_pem,
                         ReadTextFile(DataDirPath(dir, "ca.pem")));
  FERRY_ASSIGN_OR_RETURN(ctx.authority.key_pem,
                         ReadTextFile(DataDirPath(dir, "ca.key")));
  FERRY_ASSIGN_OR_RETURN(impl->server_cert_pem,
                         ReadTextFile(DataDirPath(dir, "server.pem")));
  FERRY_ASSIGN_OR_RETURN(impl->server_key_pem,
                         ReadTextFile(DataDirPath(dir, "server.key")));
  // The key that seals secrets is never made here: a new one could not open
  // what the old one sealed.
  const std::string key_path = DataDirPath(dir, "secret.key");
  if (::access(key_path.c_str(), F_OK) != 0) {
    return Status::NotFound(key_path +
                            " is missing: without it the secrets in the "
                            "database cannot be opened");
  }
  FERRY_ASSIGN_OR_RETURN(ctx.sealer, Sealer::OpenKeyFile(key_path));
  FERRY_ASSIGN_OR_RETURN(ctx.db, OpenDatabase(DatabaseSpec(dir, config.db)));
  FERRY_RETURN_IF_ERROR(Migrate(*ctx.db, StateStore::Migrations(*ctx.sealer)));
  ctx.now_ms = NowMs;
  ctx.config = std::move(config);
  impl->agents = std::make_unique<AgentService>(&impl->ctx);
  FERRY_RETURN_IF_ERROR(impl->SetUpHttp());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::Serve() {
  Impl& impl = *impl_;
  httplib::Server& http = *impl.http;
  int port = impl.listen.port;
  if (port == 0) {
    port = http.bind_to_any_port(impl.listen.host);
    if (port < 0) port = 0;
  } else if (!http.bind_to_port(impl.listen.host, port)) {
    port = 0;
  }
  if (port == 0) {
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + impl.ctx.config.listen +
                      " (in use, or not an address of this host)");
  }
  impl.port = port;
  std::fprintf(stderr, "ferry server: serving %s on %s (database %s)\n",
               impl.tls ? "HTTPS" : "plain HTTP", url().c_str(),
               impl.ctx.db->Describe().c_str());

  impl.agents->Start();
  impl.serving = true;
  if (!impl.stop_requested) http.listen_after_bind();
  impl.serving = false;
  impl.agents->Stop();
  std::fprintf(stderr, "ferry server: stopped\n");
  return Status::Ok();
}

void Server::Stop() {
  Impl& impl = *impl_;
  impl.stop_requested = true;
  if (!impl.http) return;
  // Serve() may be between binding and listening: wait until it listens
  // (or has given up) so that the stop is not lost.
  while (impl.serving && !impl.http->is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl.http->stop();
}

int Server::port() const { return impl_->port; }

std::string Server::url() const {
  HostPort address{impl_->listen.host, impl_->port.load()};
  if (address.host == "0.0.0.0" || address.host == "::") {
    address.host = "localhost";
  }
  return std::string(impl_->tls ? "https://" : "http://") + address.ToString();
}

ServerContext& Server::context() { return impl_->ctx; }

}  // namespace ferry::control
