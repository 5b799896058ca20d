// Server: the routes of `ferry server` over HttpServer (Boost.Beast). The
// DataSync API is checked in the order docs/control-plane.md gives: SigV4,
// the operation, the request against the model; then the handler runs.
// Agents present client certificates signed by the server's authority; the
// TLS layer asks every client for one but requires none, so that API callers
// need no certificate.
#include "ferry/control/server/server.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#include "ferry/base/file_util.h"
#include "ferry/base/net_address.h"
#include "ferry/base/rel_path.h"
#include "ferry/control/auth/sigv4.h"
#include "ferry/control/model/api_model.h"
#include "ferry/control/server/agent_service.h"
#include "ferry/control/server/api.h"
#include "ferry/control/server/data_dir.h"
#include "ferry/control/server/http_server.h"
#include "ferry/protocol/agent_protocol.h"
#include "ferry/protocol/json_depth.h"

namespace ferry::control {
namespace {

using nlohmann::json;

// Bodies, enforced while they are read: an API request is small (the
// largest members are a 100 KiB filter and a 128 KiB krb5.conf); an agent's
// sync carries up to 64 reports; an activation request a certificate
// request and a host name.
constexpr size_t kMaxApiBody = 1 << 20;
constexpr size_t kMaxSyncBody = protocol::kMaxMessageBytes + (64 << 10);
constexpr size_t kMaxActivationBody = 64 << 10;

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

void SendJson(HttpResponse& res, int status, const json& body,
              const std::string& request_id) {
  res.status = status;
  res.headers.emplace_back("x-amzn-RequestId", request_id);
  res.content_type = kJsonType;
  res.body = Dump(body);
}

void SendError(HttpResponse& res, const ApiError& e,
               const std::string& request_id) {
  res.headers.emplace_back("x-amzn-ErrorType", e.type);
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
void SendAgentError(HttpResponse& res, const Status& st) {
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
  res.content_type = "application/json";
  res.body = Dump(json{{"ProtocolVersion", protocol::kProtocolVersion},
                       {"Message", message}});
}

// What the HTTP layer answers itself (a body or headers too large, a
// malformed request, too busy), in the shape the route's callers read.
HttpResponse HttpLayerError(HttpRoute::Pool pool, int status,
                            const std::string& message) {
  HttpResponse res;
  if (pool == HttpRoute::Pool::kAgent) {
    StatusCode code = StatusCode::kInvalidArgument;
    if (status == 503) code = StatusCode::kUnavailable;
    if (status == 500) code = StatusCode::kInternal;
    SendAgentError(res, Status(code, message));
    res.status = status;
    return res;
  }
  const char* type = "SerializationException";
  if (status == 413 || status == 431) type = "RequestEntityTooLargeException";
  if (status == 503) type = "ServiceUnavailableException";
  if (status == 500) type = "InternalException";
  SendError(res, ErrorOf(status, type, message), RequestId());
  return res;
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
  std::unique_ptr<HttpServer> http;
  std::atomic<int> port{0};

  HttpRoute Route(std::string_view method, std::string_view path,
                  const PeerCertificate& peer);
  HttpResponse Handle(HttpRequest& req);
  void HandleApi(const HttpRequest& req, HttpResponse& res);
  void HandleActivation(const HttpRequest& req, HttpResponse& res);
  void HandleActivationState(const HttpRequest& req, HttpResponse& res);
  void HandleSync(const HttpRequest& req, HttpResponse& res);
  std::optional<HttpResponse> UpgradeChannel(
      const HttpRequest& req, std::shared_ptr<WebSocketChannel> channel,
      WebSocketHandlers* handlers);
  std::optional<std::string> SecretFor(std::string_view access_key_id);
  Status SetUpHttp(const ServerConfig& config);
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

void Server::Impl::HandleApi(const HttpRequest& req, HttpResponse& res) {
  const auto started = std::chrono::steady_clock::now();
  const std::string request_id = RequestId();
  const std::string target = req.Header("X-Amz-Target");
  const std::string prefix = "FmrsService.";
  std::string operation =
      target.rfind(prefix, 0) == 0 ? target.substr(prefix.size()) : target;
  std::string caller;
  auto log = [&](int status) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    std::string error_type;
    for (const auto& [name, value] : res.headers) {
      if (name == "x-amzn-ErrorType") error_type = value;
    }
    // The operation is the X-Amz-Target header as sent (before it is
    // checked): escaped, as everything a peer sent is in the log.
    std::fprintf(stderr, "ferry server: %s %s %s %d %lldms%s%s\n",
                 req.remote_address.c_str(),
                 caller.empty() ? "-" : EscapeForDisplay(caller).c_str(),
                 operation.empty() ? "-" : EscapeForDisplay(operation).c_str(),
                 status, static_cast<long long>(ms), status >= 400 ? " " : "",
                 error_type.c_str());
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
  signable.headers = req.headers;
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
  // Nesting is bounded before anything builds or walks the value.
  json body = json::object();
  if (!req.body.empty()) {
    auto parsed = protocol::ParseJson(req.body, ApiModel::kMaxInputDepth);
    if (!parsed.ok()) {
      fail(ErrorOf(400, "SerializationException",
                   "The request body is " +
                       std::string(parsed.status().message()) + "."));
      return;
    }
    body = std::move(parsed).value();
  }
  if (!body.is_object()) {
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

void Server::Impl::HandleActivation(const HttpRequest& req, HttpResponse& res) {
  auto request = protocol::DecodeActivationRequest(req.body);
  if (!request.ok()) {
    SendAgentError(res, request.status());
    return;
  }
  auto grant = agents->Activate(*request, req.remote_address);
  if (!grant.ok()) {
    SendAgentError(res, grant.status());
    return;
  }
  res.body = Dump(protocol::Encode(*grant));
}

void Server::Impl::HandleActivationState(const HttpRequest& req,
                                         HttpResponse& res) {
  auto state = agents->ActivationState(req.Query("key"), req.Query("token"));
  if (!state.ok()) {
    SendAgentError(res, state.status());
    return;
  }
  res.body = Dump(protocol::Encode(*state));
}

// The route refused a sync without a verified certificate before its body
// was read; the agent its certificate names must still exist before its
// body is decoded.
void Server::Impl::HandleSync(const HttpRequest& req, HttpResponse& res) {
  const std::string& agent_id = req.peer.common_name;
  if (Status known = agents->Authenticate(req.peer); !known.ok()) {
    std::fprintf(stderr, "ferry server: sync from %s (%s): %s\n",
                 EscapeForDisplay(agent_id).c_str(), req.remote_address.c_str(),
                 EscapeForDisplay(known.ToString()).c_str());
    SendAgentError(res, known);
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
  res.body = Dump(protocol::Encode(*answer));
}

// GET /agent/v1/channel: the route refused it without a verified
// certificate; the agent it names must still exist before the upgrade.
std::optional<HttpResponse> Server::Impl::UpgradeChannel(
    const HttpRequest& req, std::shared_ptr<WebSocketChannel> channel,
    WebSocketHandlers* handlers) {
  const std::string& agent_id = req.peer.common_name;
  if (Status known = agents->Authenticate(req.peer); !known.ok()) {
    std::fprintf(stderr, "ferry server: channel of %s (%s): %s\n",
                 EscapeForDisplay(agent_id).c_str(), req.remote_address.c_str(),
                 EscapeForDisplay(known.ToString()).c_str());
    HttpResponse res;
    SendAgentError(res, known);
    return res;
  }
  *handlers = agents->OpenChannel(agent_id, std::move(channel));
  return std::nullopt;
}

HttpRoute Server::Impl::Route(std::string_view method, std::string_view path,
                              const PeerCertificate& peer) {
  HttpRoute route;
  if (method == "POST" && path == "/") {
    route.max_body = kMaxApiBody;
    return route;
  }
  route.pool = HttpRoute::Pool::kAgent;
  if (path == "/agent/v1/activation" && (method == "POST" || method == "GET")) {
    route.max_body = method == "POST" ? kMaxActivationBody : 0;
    return route;
  }
  const bool channel = method == "GET" && path == "/agent/v1/channel";
  if (channel || (method == "POST" && path == "/agent/v1/sync")) {
    route.max_body = kMaxSyncBody;  // a channel's messages likewise
    route.websocket = channel;
    if (!peer.verified()) {
      route.refusal.emplace();
      SendAgentError(*route.refusal,
                     Status(StatusCode::kPermissionDenied,
                            "agents sync with the client certificate the "
                            "server's authority signed at activation"));
      std::fprintf(stderr,
                   "ferry server: %s without a verified client "
                   "certificate: 403\n",
                   channel ? "/agent/v1/channel" : "/agent/v1/sync");
    }
    return route;
  }
  route.refusal.emplace();
  route.refusal->status = 404;
  route.refusal->content_type = "text/plain";
  route.refusal->body = "Not Found\n";
  return route;
}

HttpResponse Server::Impl::Handle(HttpRequest& req) {
  HttpResponse res;
  const std::string_view path = req.Path();
  if (path == "/") {
    HandleApi(req, res);
  } else if (path == "/agent/v1/sync") {
    HandleSync(req, res);
  } else if (req.method == "POST") {
    HandleActivation(req, res);
  } else {
    HandleActivationState(req, res);
  }
  return res;
}

// Makes the listener (not bound yet).
Status Server::Impl::SetUpHttp(const ServerConfig& config) {
  HttpServerOptions options;
  options.listen = listen;
  options.limits = config.http;
  if (tls) {
    options.cert_pem = server_cert_pem;
    options.key_pem = server_key_pem;
    options.client_ca_pem = ctx.authority.certificate_pem;
  }
  auto http_server = HttpServer::Create(
      std::move(options),
      [this](std::string_view method, std::string_view path,
             const PeerCertificate& peer) { return Route(method, path, peer); },
      [this](HttpRequest& req) { return Handle(req); }, HttpLayerError,
      [this](const HttpRequest& req, std::shared_ptr<WebSocketChannel> channel,
             WebSocketHandlers* handlers) {
        return UpgradeChannel(req, std::move(channel), handlers);
      });
  if (!http_server.ok()) {
    return Status::InvalidArgument(
        "cannot set up TLS with " + DataDirPath(config.data_dir, "server.pem") +
        " and " + DataDirPath(config.data_dir, "server.key") + " (" +
        std::string(http_server.status().message()) + ")");
  }
  http = std::move(http_server).value();
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
  AgentService* agents = impl->agents.get();
  ctx.signals.execution_queued = [agents] { agents->NotifyQueued(); };
  ctx.signals.agent_has_work = [agents](const std::string& agent_arn) {
    agents->NotifyAgent(agent_arn);
  };
  FERRY_RETURN_IF_ERROR(impl->SetUpHttp(impl->ctx.config));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::Serve() {
  Impl& impl = *impl_;
  bool started = false;
  Status served = impl.http->Serve([&](int port) {
    impl.port = port;
    std::fprintf(stderr, "ferry server: serving %s on %s (database %s)\n",
                 impl.tls ? "HTTPS" : "plain HTTP", url().c_str(),
                 impl.ctx.db->Describe().c_str());
    impl.agents->Start();
    started = true;
  });
  if (started) {
    impl.agents->Stop();
    std::fprintf(stderr, "ferry server: stopped\n");
  }
  return served;
}

void Server::Stop() { impl_->http->Stop(); }

HttpServerStats Server::http_stats() const { return impl_->http->stats(); }

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
