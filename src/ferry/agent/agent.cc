#include "ferry/agent/agent.h"

#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>

#include "ferry/agent/allowed_paths.h"
#include "ferry/agent/channel_client.h"
#include "ferry/agent/link_endpoint.h"
#include "ferry/agent/running_execution.h"
#include "ferry/base/file_util.h"
#include "ferry/base/net_address.h"
#include "ferry/base/rel_path.h"
#include "ferry/base/version.h"
#include "ferry/pki/pki.h"
#include "ferry/protocol/agent_protocol.h"

namespace ferry::agent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Files in the data directory.
constexpr char kKeyFile[] = "agent.key";  // 0600
constexpr char kCsrFile[] = "agent.csr";
constexpr char kActivationKeyFile[] = "activation-key";
// Task reports (TaskReportConfig), one folder per execution.
constexpr char kTaskReportsDir[] = "task-reports";
constexpr char kActivationTokenFile[] = "activation-token";  // 0600
constexpr char kCertificateFile[] = "agent.pem";
constexpr char kArnFile[] = "agent-arn";
// Final reports not yet acknowledged, one file per execution.
constexpr char kReportsDir[] = "reports";

constexpr std::chrono::milliseconds kFirstBackoff{250};
constexpr std::chrono::milliseconds kMaxBackoff{4000};
// Reconnecting the channel: a random wait up to min(cap, base * 2^attempt)
// ("full jitter"), so that a fleet that lost its server does not come back
// all at once.
constexpr std::chrono::milliseconds kReconnectBase{250};
constexpr std::chrono::milliseconds kReconnectCap{15000};
// A channel on which a message went unanswered this long is given up.
constexpr std::chrono::milliseconds kAnswerTimeout{45000};
// After the server refused an activation request as one too many (HTTP 429):
// the interval at which its default limit admits another.
constexpr std::chrono::milliseconds kRefusedActivationWait{20000};

// One line of the agent's log, after the time. Some carry what the server
// sent (its error messages, ARNs) or its address: the whole line is escaped
// (EscapeForDisplay), so that nothing in it can end it or forge another.
void Log(const std::string& line) {
  std::string l = FormatIso8601Millis(WallNanos()) +
                  " ferry agent: " + EscapeForDisplay(line) + "\n";
  std::fwrite(l.data(), 1, l.size(), stderr);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' ||
                        s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string ShortId(const std::string& arn) {
  size_t slash = arn.rfind('/');
  return slash == std::string::npos ? arn : arn.substr(slash + 1);
}

// "https://host[:port][/]" -> host, port.
Status ParseServerUrl(const std::string& text, std::string* host, int* port) {
  auto url = ParseHttpUrl(text);
  if (!url.ok()) {
    return Status::InvalidArgument("--server: " +
                                   std::string(url.status().message()));
  }
  if (url->scheme != "https") {
    return Status::InvalidArgument(
        "--server must be an https:// URL (the session is mutual TLS): '" +
        text + "'");
  }
  if (!url->path.empty()) {
    return Status::InvalidArgument("--server takes no path: '" + text + "'");
  }
  *host = url->address.host;
  *port = url->address.port;
  return Status::Ok();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// What one HTTP exchange with the server gave: the body of a 200, or why not.
struct Reply {
  bool ok = false;
  int http_status = 0;  // 0: no answer (connection, TLS)
  std::string body;
  std::string error;
};

Reply Exchange(httplib::SSLClient* client, const char* method,
               const std::string& path, const std::string& body) {
  Reply reply;
  httplib::Result res =
      std::string(method) == "GET"
          ? client->Get(path.c_str())
          : client->Post(path.c_str(), body, "application/json");
  if (!res) {
    reply.error = "no answer (" + httplib::to_string(res.error()) + ")";
    long verify = client->get_openssl_verify_result();
    if (verify != 0) {
      reply.error += " (certificate: " +
                     std::string(X509_verify_cert_error_string(verify)) + ")";
    }
    return reply;
  }
  reply.http_status = res->status;
  reply.body = res->body;
  reply.ok = res->status == 200;
  if (!reply.ok) {
    // The server's agent endpoints answer {"Message": ...}; show just that.
    std::string message = Trim(res->body.substr(0, 512));
    nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_object() && j.contains("Message") && j["Message"].is_string()) {
      message = Trim(j["Message"].get<std::string>().substr(0, 512));
    }
    reply.error = "HTTP " + std::to_string(res->status) + ": " + message;
  }
  return reply;
}

}  // namespace

struct Agent::Impl {
  AgentConfig config;
  std::string host;
  int port = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;                 // GUARDED_BY(mu)
  bool wake = false;                     // GUARDED_BY(mu)
  std::string arn;                       // GUARDED_BY(mu)
  httplib::SSLClient* client = nullptr;  // GUARDED_BY(mu): to interrupt
  ChannelClient* channel = nullptr;      // GUARDED_BY(mu): to interrupt

  // Only the thread in Run() touches these.
  std::map<std::string, std::unique_ptr<RunningExecution>> running;
  std::map<std::string, protocol::ExecutionReport> finals;  // unacknowledged
  // Their log records the server has not stored (ended executions': in
  // DIR/reports/, beside their final reports).
  std::unique_ptr<LogShipping> logs;  // made once `config` is set
  // The receiving end of links (--link-listen), once activated.
  std::unique_ptr<LinkEndpoint> link;

  std::string ArnNow() {
    std::lock_guard lock(mu);
    return arn;
  }

  // This agent's certificate, key and the authority: what it shows and
  // trusts on a link.
  Result<link::TlsIdentity> LinkIdentity() const {
    link::TlsIdentity id;
    FERRY_ASSIGN_OR_RETURN(id.certificate_pem,
                           ReadTextFile(File(kCertificateFile)));
    FERRY_ASSIGN_OR_RETURN(id.key_pem, ReadTextFile(File(kKeyFile)));
    FERRY_ASSIGN_OR_RETURN(id.authority_pem, ReadTextFile(config.ca_bundle));
    return id;
  }

  std::string File(const char* name) const {
    return (fs::path(config.data_dir) / name).string();
  }

  bool Stopping() {
    std::lock_guard lock(mu);
    return stopping;
  }

  // Waits `d`, or less if woken or stopped; false once stopping.
  bool Sleep(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, d, [this] { return stopping || wake; });
    wake = false;
    return !stopping;
  }

  void Wake() {
    std::lock_guard lock(mu);
    wake = true;
    cv.notify_all();
    if (channel) channel->Interrupt();
  }

  std::unique_ptr<httplib::SSLClient> NewClient(bool with_certificate) {
    std::unique_ptr<httplib::SSLClient> c;
    if (with_certificate) {
      c = std::make_unique<httplib::SSLClient>(
          host, port, File(kCertificateFile), File(kKeyFile));
    } else {
      c = std::make_unique<httplib::SSLClient>(host, port);
    }
    c->set_ca_cert_path(config.ca_bundle);
    c->enable_server_certificate_verification(true);
    c->set_keep_alive(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(30, 0);
    c->set_write_timeout(30, 0);
    return c;
  }

  // Makes `c` the client Stop() interrupts.
  void Attach(httplib::SSLClient* c) {
    std::lock_guard lock(mu);
    client = c;
  }

  Status Activate(
      const std::function<void(const std::string&)>& on_activation_key);
  Status Session();
  // Runs one connected channel until it fails or the agent stops.
  void RunChannel(ChannelClient& ch, std::mt19937_64& rng);
  void SendRunningReports(protocol::SyncRequest* request);
  void SaveEnded();
  void Handle(const protocol::SyncResponse& response);
  Status PersistFinal(const protocol::ExecutionReport& report);
  void LoadFinals();
};

Result<std::unique_ptr<Agent>> Agent::Open(AgentConfig config) {
  auto impl = std::make_unique<Impl>();
  FERRY_RETURN_IF_ERROR(
      ParseServerUrl(config.server_url, &impl->host, &impl->port));
  if (config.data_dir.empty()) {
    return Status::InvalidArgument("--data-dir is required");
  }
  if (config.ca_bundle.empty()) {
    return Status::InvalidArgument(
        "--ca-bundle is required (the ca.pem `ferry server init` wrote)");
  }
  auto ca = ReadTextFile(config.ca_bundle);
  if (!ca.ok()) {
    return Status::InvalidArgument("--ca-bundle: " +
                                   std::string(ca.status().message()));
  }
  if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return Status::InvalidArgument("--ca-bundle " + config.ca_bundle +
                                   " holds no PEM certificate");
  }
  if (config.threads < 0 || config.threads > 1024) {
    return Status::InvalidArgument("--threads must be 0..1024");
  }
  for (const std::string& dir : config.storage.allowed_paths) {
    auto normal = NormalizePath(dir);
    if (!normal.ok()) {
      return Status::InvalidArgument("--allowed-path " + dir + ": " +
                                     std::string(normal.status().message()));
    }
  }
  if (config.poll_interval < std::chrono::milliseconds(10)) {
    config.poll_interval = std::chrono::milliseconds(10);
  }
  std::error_code ec;
  fs::create_directories(fs::path(config.data_dir) / kReportsDir, ec);
  if (ec) {
    return Status::IoError("cannot create " + config.data_dir + ": " +
                           ec.message());
  }
  ::chmod(config.data_dir.c_str(), 0700);
  impl->config = std::move(config);
  impl->logs = std::make_unique<LogShipping>(
      (fs::path(impl->config.data_dir) / kReportsDir).string(),
      [raw = impl.get()] { raw->Wake(); });
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Agent::~Agent() {
  Stop();
  for (auto& [arn, exec] : impl_->running) exec->Abandon();
}

void Agent::Stop() {
  std::lock_guard lock(impl_->mu);
  impl_->stopping = true;
  impl_->cv.notify_all();
  if (impl_->client) impl_->client->stop();
  if (impl_->channel) impl_->channel->Interrupt();
}

std::string Agent::arn() const {
  std::lock_guard lock(impl_->mu);
  return impl_->arn;
}

Status Agent::Run(const std::function<void(const std::string& activation_key)>&
                      on_activation_key) {
  const std::vector<std::string>& allowed = impl_->config.storage.allowed_paths;
  if (allowed.empty()) {
    Log("every local path is allowed: executions read and write wherever "
        "this user can (give --allowed-path DIR to confine them)");
  } else {
    std::string list;
    for (const std::string& dir : allowed) {
      auto normal = NormalizePath(dir);
      list += (list.empty() ? "" : ", ") + dir;
      if (normal.ok() && *normal != dir) list += " (" + *normal + ")";
    }
    Log("local locations must lie within " + list);
  }
  FERRY_RETURN_IF_ERROR(impl_->Activate(on_activation_key));
  if (!impl_->config.link_listen.empty() && !impl_->Stopping()) {
    LinkEndpointConfig link;
    link.listen = impl_->config.link_listen;
    link.advertise = impl_->config.link_advertise;
    FERRY_ASSIGN_OR_RETURN(link.identity, impl_->LinkIdentity());
    link.log = [](const std::string& line) { Log(line); };
    FERRY_ASSIGN_OR_RETURN(impl_->link, LinkEndpoint::Start(std::move(link)));
  }
  Status st = impl_->Session();
  if (impl_->link) impl_->link->Stop();
  return st;
}

// --- Activation ---

Status Agent::Impl::Activate(
    const std::function<void(const std::string&)>& on_activation_key) {
  if (Exists(File(kCertificateFile)) && Exists(File(kArnFile))) {
    FERRY_ASSIGN_OR_RETURN(std::string a, ReadTextFile(File(kArnFile)));
    std::lock_guard lock(mu);
    arn = Trim(a);
    return Status::Ok();
  }
  if (!Exists(File(kKeyFile)) || !Exists(File(kCsrFile))) {
    FERRY_ASSIGN_OR_RETURN(pki::KeyAndRequest kr,
                           pki::CreateRequest("ferry-agent " + HostName()));
    FERRY_RETURN_IF_ERROR(
        WriteFileAtomically(File(kKeyFile), kr.key_pem, 0600));
    FERRY_RETURN_IF_ERROR(
        WriteFileAtomically(File(kCsrFile), kr.request_pem, 0644));
  }
  FERRY_ASSIGN_OR_RETURN(std::string csr, ReadTextFile(File(kCsrFile)));
  FERRY_ASSIGN_OR_RETURN(std::string ca, ReadTextFile(config.ca_bundle));

  std::unique_ptr<httplib::SSLClient> c = NewClient(/*with_certificate=*/false);
  Attach(c.get());
  struct Detach {
    Impl* impl;
    ~Detach() { impl->Attach(nullptr); }
  } detach{this};

  std::chrono::milliseconds backoff = kFirstBackoff;
  auto retry_later = [&](const std::string& what) {
    Log(what + "; retrying in " + std::to_string(backoff.count()) + " ms");
    bool go_on = Sleep(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
    return go_on;
  };
  std::string announced;
  while (!Stopping()) {
    std::string key, token;
    if (Exists(File(kActivationKeyFile)) &&
        Exists(File(kActivationTokenFile))) {
      FERRY_ASSIGN_OR_RETURN(key, ReadTextFile(File(kActivationKeyFile)));
      FERRY_ASSIGN_OR_RETURN(token, ReadTextFile(File(kActivationTokenFile)));
      key = Trim(key);
      token = Trim(token);
    } else {
      protocol::ActivationRequest request;
      request.csr_pem = csr;
      request.hostname = HostName();
      request.version = kVersion;
      Reply reply = Exchange(c.get(), "POST", "/agent/v1/activation",
                             protocol::Encode(request).dump());
      if (!reply.ok) {
        if (reply.http_status == 429) {
          backoff = std::max(backoff, kRefusedActivationWait);
        }
        if (!retry_later("activation request to " + config.server_url +
                         " failed: " + reply.error)) {
          break;
        }
        continue;
      }
      auto grant = protocol::DecodeActivationGrant(reply.body);
      if (!grant.ok()) {
        if (!retry_later("bad activation answer: " +
                         std::string(grant.status().message()))) {
          break;
        }
        continue;
      }
      key = grant->activation_key;
      token = grant->poll_token;
      FERRY_RETURN_IF_ERROR(
          WriteFileAtomically(File(kActivationTokenFile), token + "\n", 0600));
      FERRY_RETURN_IF_ERROR(
          WriteFileAtomically(File(kActivationKeyFile), key + "\n", 0644));
    }
    if (announced != key) {
      announced = key;
      if (on_activation_key) on_activation_key(key);
    }
    backoff = kFirstBackoff;

    // Poll until an operator has used the key.
    bool start_over = false;
    while (!start_over && !Stopping()) {
      httplib::Params params{{"key", key}, {"token", token}};
      std::string path =
          httplib::append_query_params("/agent/v1/activation", params);
      Reply reply = Exchange(c.get(), "GET", path, "");
      if (!reply.ok) {
        if (reply.http_status == 403 || reply.http_status == 404) {
          // The server does not know this key (or this token): ask again.
          Log("the server refused activation key " + key + " (" + reply.error +
              "); requesting a new one");
          start_over = true;
        } else if (!retry_later("activation status: " + reply.error)) {
          break;
        }
        continue;
      }
      backoff = kFirstBackoff;
      auto status = protocol::DecodeActivationStatus(reply.body);
      if (!status.ok()) {
        if (!retry_later("bad activation status: " +
                         std::string(status.status().message()))) {
          break;
        }
        continue;
      }
      switch (status->state) {
        case protocol::ActivationStatus::State::kPending:
          Sleep(config.poll_interval);
          break;
        case protocol::ActivationStatus::State::kExpired:
          Log("activation key " + key +
              " expired before it was used; requesting a new one");
          start_over = true;
          break;
        case protocol::ActivationStatus::State::kActivated: {
          Status issued = pki::VerifyIssuedBy(status->certificate_pem, ca);
          if (!issued.ok()) {
            return Status(StatusCode::kPermissionDenied,
                          "the certificate the server sent was not issued by " +
                              config.ca_bundle + ": " +
                              std::string(issued.message()));
          }
          FERRY_RETURN_IF_ERROR(WriteFileAtomically(
              File(kCertificateFile), status->certificate_pem, 0644));
          FERRY_RETURN_IF_ERROR(WriteFileAtomically(
              File(kArnFile), status->agent_arn + "\n", 0644));
          std::error_code ec;
          fs::remove(File(kActivationTokenFile), ec);
          Log("activated as " + status->agent_arn);
          std::lock_guard lock(mu);
          arn = status->agent_arn;
          return Status::Ok();
        }
      }
    }
    if (start_over) {
      std::error_code ec;
      fs::remove(File(kActivationKeyFile), ec);
      fs::remove(File(kActivationTokenFile), ec);
    }
  }
  return Status::Cancelled("the agent stopped before it was activated");
}

// --- The session ---

Status Agent::Impl::PersistFinal(const protocol::ExecutionReport& report) {
  protocol::SyncRequest one;
  one.executions.push_back(report);
  return WriteFileAtomically((fs::path(config.data_dir) / kReportsDir /
                              (ShortId(report.execution_arn) + ".json"))
                                 .string(),
                             protocol::Encode(one).dump(), 0600);
}

void Agent::Impl::LoadFinals() {
  std::error_code ec;
  for (const auto& entry :
       fs::directory_iterator(fs::path(config.data_dir) / kReportsDir, ec)) {
    if (entry.path().extension() != ".json") continue;
    auto text = ReadTextFile(entry.path().string(), protocol::kMaxMessageBytes);
    if (!text.ok()) continue;
    auto saved = protocol::DecodeSyncRequest(*text);
    if (!saved.ok() || saved->executions.size() != 1) {
      Log("ignoring unreadable saved report " + entry.path().string());
      continue;
    }
    protocol::ExecutionReport r = saved->executions.front();
    finals[r.execution_arn] = std::move(r);
  }
  logs->Load();
}

void Agent::Impl::SendRunningReports(protocol::SyncRequest* request) {
  SaveEnded();
  for (const auto& [arn, r] : finals) {
    if (request->executions.size() >= protocol::kMaxExecutionsPerSync) break;
    request->executions.push_back(r);
  }
  for (const auto& [arn, exec] : running) {
    if (request->executions.size() >= protocol::kMaxExecutionsPerSync) break;
    request->executions.push_back(exec->Report());
  }
  logs->Fill(request);
}

// Executions that have ended become saved final reports.
void Agent::Impl::SaveEnded() {
  for (auto it = running.begin(); it != running.end();) {
    if (!it->second->done()) {
      ++it;
      continue;
    }
    protocol::ExecutionReport r = it->second->Report();
    Status spooled = logs->Ended(r.execution_arn);
    if (!spooled.ok()) Log("cannot save log records: " + spooled.ToString());
    Status saved = PersistFinal(r);
    if (!saved.ok()) Log("cannot save the final report: " + saved.ToString());
    Log(ShortId(r.execution_arn) + " ended " + r.status);
    finals[r.execution_arn] = std::move(r);
    it = running.erase(it);  // joins its (finished) thread
  }
}

void Agent::Impl::Handle(const protocol::SyncResponse& response) {
  logs->Apply(response);
  for (const std::string& arn : response.acknowledged) {
    // Its final report goes on carrying its log records until all are
    // stored.
    if (!logs->Drained(arn)) continue;
    logs->Forget(arn);
    if (finals.erase(arn) > 0) {
      std::error_code ec;
      fs::remove(
          fs::path(config.data_dir) / kReportsDir / (ShortId(arn) + ".json"),
          ec);
    }
  }
  for (const protocol::Command& cmd : response.commands) {
    auto it = running.find(cmd.execution_arn);
    switch (cmd.type) {
      case protocol::Command::Type::kRunExecution: {
        if (it != running.end() || finals.count(cmd.execution_arn)) break;
        Log("running " + cmd.execution_arn +
            (cmd.has_link
                 ? " (its destination over the link to " + cmd.link.agent_arn +
                       " at " + cmd.link.address + ")"
                 : std::string()));
        LocationOpener open = MakeLocationOpener(config.storage);
        if (cmd.has_link) {
          Result<link::TlsIdentity> identity = LinkIdentity();
          if (!identity.ok()) {
            Log("cannot read this agent's certificate for the link: " +
                identity.status().ToString());
          } else {
            const int workers =
                config.threads > 0
                    ? config.threads
                    : static_cast<int>(std::thread::hardware_concurrency());
            open = LinkOpener(std::move(open), cmd, std::move(*identity),
                              ArnNow(), std::max(workers, 2));
          }
        }
        auto exec = std::make_unique<RunningExecution>(
            cmd,
            EngineSettings{.threads = config.threads,
                           .outage_limit = config.outage_limit},
            [this] { Wake(); },
            (fs::path(config.data_dir) / kTaskReportsDir).string(),
            std::move(open));
        logs->Track(cmd.execution_arn, exec->logs());
        exec->Start();
        running.emplace(cmd.execution_arn, std::move(exec));
        break;
      }
      case protocol::Command::Type::kServeLink:
        if (!link) {
          Log("asked to serve the link of " + ShortId(cmd.execution_arn) +
              ", but this agent was not started with --link-listen");
          break;
        }
        (void)link->Serve(cmd, MakeLocationOpener(config.storage));
        break;
      case protocol::Command::Type::kCancelExecution:
        if (link) link->End(cmd.execution_arn);
        if (it != running.end()) {
          Log("cancelling " + ShortId(cmd.execution_arn));
          it->second->Cancel();
        }
        break;
      case protocol::Command::Type::kSetBandwidth:
        if (it != running.end()) {
          Log(ShortId(cmd.execution_arn) + ": BytesPerSecond " +
              std::to_string(cmd.bytes_per_second));
          it->second->SetBytesPerSecond(cmd.bytes_per_second);
        }
        break;
    }
  }
}

void Agent::Impl::RunChannel(ChannelClient& ch, std::mt19937_64& rng) {
  // What the server was last told of each execution: a change of status,
  // a new execution or a new final report goes out at once; a change of
  // counters at most every poll interval; nothing new, a heartbeat.
  std::map<std::string, std::string> told_status;
  std::map<std::string, std::string> told_describe;
  // The links served, as last told: a change goes out at once; while any
  // is served, the server hears from the agent every poll interval, so that
  // an ended execution's link is closed within one (its CancelExecution
  // answers a sync that lists it).
  std::vector<std::string> told_links;
  auto progress_interval = config.poll_interval;
  auto heartbeat_interval = std::chrono::milliseconds(30000);
  auto heartbeat_wait = [&] {
    std::uniform_int_distribution<int64_t> d(heartbeat_interval.count() / 2,
                                             heartbeat_interval.count());
    return std::chrono::milliseconds(d(rng));
  };
  Clock::time_point next_heartbeat = Clock::now();  // at once: the first
  Clock::time_point last_progress{};
  std::optional<Clock::time_point> unanswered_since;
  auto fail = [&](const std::string& why) {
    if (config.on_sync) config.on_sync(false);
    if (!Stopping()) {
      Log("lost the channel to " + config.server_url + ": " + why +
          "; reconnecting (executions go on)");
    }
  };
  while (!Stopping()) {
    protocol::SyncRequest request;
    request.version = kVersion;
    SendRunningReports(&request);
    if (link) {
      request.link_address = link->advertised();
      request.links_served = link->Served();
      if (request.links_served.size() > protocol::kMaxExecutionsPerSync) {
        request.links_served.resize(protocol::kMaxExecutionsPerSync);
      }
    }
    bool urgent = false, progressed = false;
    // Log records ride with the counters; a report's worth waiting, or an
    // ended execution's last ones, go as fast as the server answers (one
    // message in flight).
    bool logs = false, logs_backlog = false;
    std::map<std::string, std::string> status_now, describe_now;
    for (const protocol::ExecutionReport& r : request.executions) {
      if (!r.logs.empty()) {
        logs = true;
        if (r.final || r.logs.size() >= protocol::kMaxLogRecordsPerReport) {
          logs_backlog = true;
        }
      }
      std::string describe = r.describe.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
      auto st = told_status.find(r.execution_arn);
      if (st == told_status.end() || st->second != r.status ||
          (r.final && told_describe[r.execution_arn] != describe)) {
        urgent = true;
      } else if (told_describe[r.execution_arn] != describe) {
        progressed = true;
      }
      status_now[r.execution_arn] = r.status;
      describe_now[r.execution_arn] = std::move(describe);
    }
    if (request.links_served != told_links) {
      urgent = true;
    } else if (!request.links_served.empty()) {
      progressed = true;
    }
    const auto now = Clock::now();
    const bool due = now - last_progress >= progress_interval;
    if (urgent || now >= next_heartbeat || ((progressed || logs) && due) ||
        (logs_backlog && !unanswered_since)) {
      Status sent = ch.Send(protocol::Encode(request).dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace));
      if (!sent.ok()) return fail(std::string(sent.message()));
      told_status = std::move(status_now);
      told_describe = std::move(describe_now);
      told_links = request.links_served;
      last_progress = now;
      next_heartbeat = now + heartbeat_wait();
      if (!unanswered_since) unanswered_since = now;
    }
    // Wait for the server, a heartbeat, an execution that ends (Wake), or
    // the next look at the counters while executions run.
    auto until = next_heartbeat;
    if (!running.empty() || !told_links.empty()) {
      until = std::min(until, now + progress_interval);
    }
    if (logs) until = std::min(until, last_progress + progress_interval);
    if (unanswered_since) {
      until = std::min(until, *unanswered_since + kAnswerTimeout);
    }
    auto message =
        ch.Receive(std::chrono::duration_cast<std::chrono::milliseconds>(
            std::max(until - Clock::now(), Clock::duration::zero())));
    if (!message.ok()) return fail(std::string(message.status().message()));
    if (!message->has_value()) {
      if (unanswered_since &&
          Clock::now() - *unanswered_since >= kAnswerTimeout) {
        return fail("the server has not answered for " +
                    std::to_string(kAnswerTimeout.count() / 1000) + " s");
      }
      continue;
    }
    unanswered_since.reset();
    auto response = protocol::DecodeSyncResponse(**message);
    if (!response.ok()) {
      return fail("bad message from the server: " +
                  std::string(response.status().message()));
    }
    if (config.on_sync) config.on_sync(true);
    progress_interval =
        std::min(config.poll_interval,
                 std::chrono::milliseconds(response->poll_interval_ms));
    const auto beat =
        std::chrono::milliseconds(response->heartbeat_interval_ms);
    if (beat != heartbeat_interval) {
      heartbeat_interval = beat;
      next_heartbeat =
          std::min(next_heartbeat, Clock::now() + heartbeat_wait());
    }
    Handle(*response);
  }
}

Status Agent::Impl::Session() {
  LoadFinals();
  ChannelOptions options;
  options.host = host;
  options.port = port;
  options.ca_bundle = config.ca_bundle;
  options.certificate = File(kCertificateFile);
  options.key = File(kKeyFile);
  options.max_message_bytes = protocol::kMaxMessageBytes;
  std::mt19937_64 rng(std::random_device{}());
  int attempt = 0;
  bool connected = false;  // the last attempt got a channel
  Clock::time_point last_complaint{};
  while (!Stopping()) {
    auto ch = ChannelClient::Connect(options);
    if (!ch.ok()) {
      if (ch.status().code() == StatusCode::kFailedPrecondition) {
        return ch.status();
      }
      if (config.on_sync) config.on_sync(false);
      auto now = Clock::now();
      if (connected || now - last_complaint > std::chrono::seconds(30)) {
        Log("cannot reach " + config.server_url + ": " +
            std::string(ch.status().message()) +
            "; retrying (executions go on)");
        last_complaint = now;
      }
      connected = false;
      const auto cap = std::min<std::chrono::milliseconds>(
          kReconnectCap,
          kReconnectBase * (int64_t{1} << std::min(attempt, 10)));
      ++attempt;
      std::uniform_int_distribution<int64_t> wait(0, cap.count());
      // Executions that end meanwhile are saved (and sent once back).
      SaveEnded();
      Sleep(std::chrono::milliseconds(wait(rng)));
      continue;
    }
    attempt = 0;
    if (!connected) Log("connected to " + config.server_url);
    connected = true;
    {
      std::lock_guard lock(mu);
      channel = ch->get();
    }
    RunChannel(**ch, rng);
    {
      std::lock_guard lock(mu);
      channel = nullptr;
    }
    // Lost (and said so): the next channel is announced again, and a first
    // failure to reconnect is not said twice.
    connected = false;
    last_complaint = Clock::now();
  }
  // Stopping: what runs is abandoned and saved; the server hears of it when
  // the agent is back (or ends it AgentOffline first).
  for (auto& [arn, exec] : running) {
    exec->Abandon();
    protocol::ExecutionReport r = exec->Report();
    if (!r.final) continue;
    Status spooled = logs->Ended(r.execution_arn);
    if (!spooled.ok()) Log("cannot save log records: " + spooled.ToString());
    Status saved = PersistFinal(r);
    if (!saved.ok()) Log("cannot save the final report: " + saved.ToString());
  }
  running.clear();
  return Status::Ok();
}

}  // namespace ferry::agent
