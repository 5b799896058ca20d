#include "ferry/protocol/agent_protocol.h"

#include "ferry/base/base64.h"
#include "ferry/base/net_address.h"
#include "ferry/protocol/json_depth.h"

namespace ferry::protocol {
namespace {

using nlohmann::json;

// Reads the members of one JSON object from a peer, checking each.
class Fields {
 public:
  Fields(const json& object, std::string where)
      : o_(object), where_(std::move(where)) {}

  Status Check() const {
    if (!o_.is_object()) return Bad("", "must be an object");
    return Status::Ok();
  }

  Result<std::string> String(const char* name, size_t max,
                             bool required = true) const {
    auto it = o_.find(name);
    if (it == o_.end() || it->is_null()) {
      if (required) return Bad(name, "is missing");
      return std::string();
    }
    if (!it->is_string()) return Bad(name, "must be a string");
    const std::string& s = it->get_ref<const std::string&>();
    if (s.size() > max)
      return Bad(name, "is longer than " + std::to_string(max) + " bytes");
    return s;
  }

  Result<int64_t> Int(const char* name, int64_t min, int64_t max,
                      bool required = true, int64_t fallback = 0) const {
    auto it = o_.find(name);
    if (it == o_.end() || it->is_null()) {
      if (required) return Bad(name, "is missing");
      return fallback;
    }
    if (!it->is_number_integer()) return Bad(name, "must be an integer");
    int64_t v = it->get<int64_t>();
    if (v < min || v > max) {
      return Bad(name, "must be between " + std::to_string(min) + " and " +
                           std::to_string(max));
    }
    return v;
  }

  Result<bool> Bool(const char* name) const {
    auto it = o_.find(name);
    if (it == o_.end() || it->is_null()) return false;
    if (!it->is_boolean()) return Bad(name, "must be true or false");
    return it->get<bool>();
  }

  Result<const json*> Object(const char* name, bool required = true) const {
    auto it = o_.find(name);
    if (it == o_.end() || it->is_null()) {
      if (required) return Bad(name, "is missing");
      return static_cast<const json*>(nullptr);
    }
    if (!it->is_object()) return Bad(name, "must be an object");
    return &*it;
  }

  Result<const json*> Array(const char* name, size_t max_items) const {
    auto it = o_.find(name);
    if (it == o_.end() || it->is_null())
      return static_cast<const json*>(nullptr);
    if (!it->is_array()) return Bad(name, "must be an array");
    if (it->size() > max_items) {
      return Bad(name, "has more than " + std::to_string(max_items) + " items");
    }
    return &*it;
  }

  Status Version() const {
    auto v = Int("ProtocolVersion", 1, 1000000);
    if (!v.ok()) return v.status();
    if (*v != kProtocolVersion) {
      return Status::FailedPrecondition(where_ + ": protocol version " +
                                        std::to_string(*v) +
                                        " is not supported (this side speaks " +
                                        std::to_string(kProtocolVersion) + ")");
    }
    return Status::Ok();
  }

  std::string Path(const std::string& member) const {
    return member.empty() ? where_ : where_ + "." + member;
  }

 private:
  Status Bad(const std::string& member, const std::string& what) const {
    return Status::InvalidArgument(Path(member) + " " + what);
  }

  const json& o_;
  std::string where_;
};

Result<json> ParseBody(std::string_view body, const char* what) {
  if (body.size() > kMaxMessageBytes) {
    return Status::InvalidArgument(std::string(what) + " is larger than " +
                                   std::to_string(kMaxMessageBytes) + " bytes");
  }
  auto parsed = ParseJson(body, kMaxJsonDepth);
  if (!parsed.ok()) {
    return Status::InvalidArgument(std::string(what) + " is " +
                                   std::string(parsed.status().message()));
  }
  json j = std::move(parsed).value();
  if (!j.is_object())
    return Status::InvalidArgument(std::string(what) + " must be an object");
  return j;
}

const char* CommandTypeName(Command::Type t) {
  switch (t) {
    case Command::Type::kRunExecution:
      return "RunExecution";
    case Command::Type::kCancelExecution:
      return "CancelExecution";
    case Command::Type::kSetBandwidth:
      return "SetBandwidth";
    case Command::Type::kServeLink:
      return "ServeLink";
  }
  return "?";
}

json EncodeLink(const LinkPeer& l) {
  json j = {{"PeerAgentArn", l.agent_arn}, {"Secret", Base64Encode(l.secret)}};
  if (!l.address.empty()) j["PeerAddress"] = l.address;
  return j;
}

json EncodeLocation(const LocationSpecMessage& l) {
  return {{"Arn", l.arn}, {"Type", l.type}, {"Parameters", l.parameters}};
}

Result<LocationSpecMessage> DecodeLocation(const json& j,
                                           const std::string& where) {
  Fields f(j, where);
  FERRY_RETURN_IF_ERROR(f.Check());
  LocationSpecMessage l;
  FERRY_ASSIGN_OR_RETURN(l.arn, f.String("Arn", 256));
  FERRY_ASSIGN_OR_RETURN(l.type, f.String("Type", 32));
  FERRY_ASSIGN_OR_RETURN(const json* params, f.Object("Parameters"));
  if (params->dump().size() > kMaxStringBytes) {
    return Status::InvalidArgument(where + ".Parameters is too large");
  }
  l.parameters = *params;
  return l;
}

// A Link member: the peer agent's ARN, its address (required of a sender's
// link: where to dial) and the 32-byte secret.
Result<LinkPeer> DecodeLink(const json& j, const std::string& where,
                            bool need_address) {
  Fields f(j, where);
  FERRY_RETURN_IF_ERROR(f.Check());
  LinkPeer l;
  FERRY_ASSIGN_OR_RETURN(l.agent_arn, f.String("PeerAgentArn", 256));
  FERRY_ASSIGN_OR_RETURN(
      l.address, f.String("PeerAddress", kMaxLinkAddressBytes, need_address));
  if (!l.address.empty()) {
    Result<HostPort> address = ParseHostPort(l.address);
    if (!address.ok()) {
      return Status::InvalidArgument(
          where + ".PeerAddress: " + std::string(address.status().message()));
    }
  }
  FERRY_ASSIGN_OR_RETURN(std::string secret, f.String("Secret", 64));
  std::optional<std::string> raw = Base64Decode(secret);
  if (!raw || raw->size() != kLinkSecretBytes) {
    return Status::InvalidArgument(where + ".Secret must be " +
                                   std::to_string(kLinkSecretBytes) +
                                   " bytes in base64");
  }
  l.secret = std::move(*raw);
  return l;
}

json EncodeLogRecord(const LogRecord& l) {
  return {{"Seq", l.seq},
          {"Time", l.time_ms},
          {"Level", l.level},
          {"Event", l.event},
          {"Message", l.message}};
}

// The Logs and LogsSeq members of an execution report.
Status DecodeLogs(const Fields& e, const std::string& where,
                  ExecutionReport* r) {
  FERRY_ASSIGN_OR_RETURN(const json* logs,
                         e.Array("Logs", kMaxLogRecordsPerReport));
  size_t text = 0;
  int64_t last = 0;
  if (logs) {
    for (size_t i = 0; i < logs->size(); ++i) {
      const std::string at = where + ".Logs[" + std::to_string(i) + "]";
      Fields f((*logs)[i], at);
      FERRY_RETURN_IF_ERROR(f.Check());
      LogRecord l;
      FERRY_ASSIGN_OR_RETURN(l.seq, f.Int("Seq", 1, kMaxLogSeq));
      if (l.seq <= last) {
        return Status::InvalidArgument(at + ".Seq must be greater than " +
                                       std::to_string(last) +
                                       " (the Seq before it)");
      }
      last = l.seq;
      FERRY_ASSIGN_OR_RETURN(l.time_ms, f.Int("Time", 0, int64_t{1} << 53));
      FERRY_ASSIGN_OR_RETURN(l.level, f.String("Level", kMaxLogLevelBytes));
      FERRY_ASSIGN_OR_RETURN(l.event, f.String("Event", kMaxLogEventBytes));
      FERRY_ASSIGN_OR_RETURN(l.message,
                             f.String("Message", kMaxLogMessageBytes));
      for (auto [name, value] :
           {std::pair{"Level", &l.level}, std::pair{"Event", &l.event},
            std::pair{"Message", &l.message}}) {
        if (value->find('\0') != std::string::npos) {
          return Status::InvalidArgument(at + "." + name +
                                         " holds a NUL character");
        }
      }
      text += l.level.size() + l.event.size() + l.message.size();
      if (text > kMaxLogTextBytesPerReport) {
        return Status::InvalidArgument(
            where + ".Logs holds more than " +
            std::to_string(kMaxLogTextBytesPerReport) + " bytes of text");
      }
      r->logs.push_back(std::move(l));
    }
  }
  FERRY_ASSIGN_OR_RETURN(r->logs_seq,
                         e.Int("LogsSeq", 0, kMaxLogSeq, false, last));
  if (r->logs_seq < last) {
    return Status::InvalidArgument(where + ".LogsSeq must be at least " +
                                   std::to_string(last) +
                                   " (the last Seq of Logs)");
  }
  return Status::Ok();
}

}  // namespace

json Encode(const ActivationRequest& m) {
  return {{"ProtocolVersion", kProtocolVersion},
          {"Csr", m.csr_pem},
          {"Hostname", m.hostname},
          {"Version", m.version}};
}

json Encode(const ActivationGrant& m) {
  return {{"ProtocolVersion", kProtocolVersion},
          {"ActivationKey", m.activation_key},
          {"PollToken", m.poll_token},
          {"ExpiresAt", m.expires_at}};
}

json Encode(const ActivationStatus& m) {
  json j = {{"ProtocolVersion", kProtocolVersion}};
  switch (m.state) {
    case ActivationStatus::State::kPending:
      j["State"] = "PENDING";
      break;
    case ActivationStatus::State::kActivated:
      j["State"] = "ACTIVATED";
      j["AgentArn"] = m.agent_arn;
      j["Certificate"] = m.certificate_pem;
      break;
    case ActivationStatus::State::kExpired:
      j["State"] = "EXPIRED";
      break;
  }
  return j;
}

json Encode(const SyncRequest& m) {
  json execs = json::array();
  for (const ExecutionReport& e : m.executions) {
    json j = {{"ExecutionArn", e.execution_arn},
              {"Status", e.status},
              {"Describe", e.describe},
              {"Final", e.final}};
    if (!e.logs.empty()) {
      json logs = json::array();
      for (const LogRecord& l : e.logs) logs.push_back(EncodeLogRecord(l));
      j["Logs"] = std::move(logs);
    }
    if (e.logs_seq > 0) j["LogsSeq"] = e.logs_seq;
    execs.push_back(std::move(j));
  }
  json j = {{"ProtocolVersion", kProtocolVersion},
            {"Version", m.version},
            {"Executions", execs}};
  if (!m.link_address.empty()) j["LinkAddress"] = m.link_address;
  if (!m.links_served.empty()) j["LinksServed"] = m.links_served;
  return j;
}

json Encode(const SyncResponse& m) {
  json cmds = json::array();
  for (const Command& c : m.commands) {
    json j = {{"Type", CommandTypeName(c.type)},
              {"ExecutionArn", c.execution_arn}};
    if (c.type == Command::Type::kRunExecution) {
      j["TaskArn"] = c.task_arn;
      j["Options"] = c.options;
      j["Includes"] = c.includes;
      j["Excludes"] = c.excludes;
      if (c.has_manifest) j["Manifest"] = c.manifest;
      if (c.has_report) {
        j["Report"] = {{"OutputType", c.report_output_type},
                       {"ReportLevel", c.report_level}};
        if (!c.report_destination.type.empty()) {
          j["Report"]["Destination"] = EncodeLocation(c.report_destination);
        }
      }
      if (!c.manifest_object.type.empty()) {
        j["ManifestObject"] = EncodeLocation(c.manifest_object);
      }
      j["Source"] = EncodeLocation(c.source);
      j["Destination"] = EncodeLocation(c.destination);
      if (c.has_link) j["Link"] = EncodeLink(c.link);
    }
    if (c.type == Command::Type::kServeLink) {
      j["Options"] = c.options;
      j["Destination"] = EncodeLocation(c.destination);
      j["Link"] = EncodeLink(c.link);
    }
    if (c.type != Command::Type::kCancelExecution &&
        c.type != Command::Type::kServeLink)
      j["BytesPerSecond"] = c.bytes_per_second;
    cmds.push_back(std::move(j));
  }
  json j = {{"ProtocolVersion", kProtocolVersion},
            {"Commands", cmds},
            {"Acknowledged", m.acknowledged},
            {"PollIntervalMs", m.poll_interval_ms},
            {"HeartbeatIntervalMs", m.heartbeat_interval_ms}};
  if (m.has_logs_stored) {
    json stored = json::object();
    for (const auto& [arn, seq] : m.logs_stored) stored[arn] = seq;
    j["LogsStored"] = std::move(stored);
  }
  return j;
}

Result<ActivationRequest> DecodeActivationRequest(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseBody(body, "activation request"));
  Fields f(j, "ActivationRequest");
  FERRY_RETURN_IF_ERROR(f.Version());
  ActivationRequest m;
  FERRY_ASSIGN_OR_RETURN(m.csr_pem, f.String("Csr", kMaxPemBytes));
  FERRY_ASSIGN_OR_RETURN(m.hostname, f.String("Hostname", 255, false));
  FERRY_ASSIGN_OR_RETURN(m.version, f.String("Version", 64, false));
  return m;
}

Result<ActivationGrant> DecodeActivationGrant(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseBody(body, "activation grant"));
  Fields f(j, "ActivationGrant");
  FERRY_RETURN_IF_ERROR(f.Version());
  ActivationGrant m;
  FERRY_ASSIGN_OR_RETURN(m.activation_key, f.String("ActivationKey", 29));
  FERRY_ASSIGN_OR_RETURN(m.poll_token, f.String("PollToken", 128));
  FERRY_ASSIGN_OR_RETURN(m.expires_at, f.Int("ExpiresAt", 0, int64_t{1} << 40));
  return m;
}

Result<ActivationStatus> DecodeActivationStatus(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseBody(body, "activation status"));
  Fields f(j, "ActivationStatus");
  FERRY_RETURN_IF_ERROR(f.Version());
  ActivationStatus m;
  FERRY_ASSIGN_OR_RETURN(std::string state, f.String("State", 16));
  if (state == "PENDING") {
    m.state = ActivationStatus::State::kPending;
  } else if (state == "EXPIRED") {
    m.state = ActivationStatus::State::kExpired;
  } else if (state == "ACTIVATED") {
    m.state = ActivationStatus::State::kActivated;
    FERRY_ASSIGN_OR_RETURN(m.agent_arn, f.String("AgentArn", 256));
    FERRY_ASSIGN_OR_RETURN(m.certificate_pem,
                           f.String("Certificate", kMaxPemBytes));
  } else {
    return Status::InvalidArgument("ActivationStatus.State '" + state +
                                   "' is not known");
  }
  return m;
}

Result<SyncRequest> DecodeSyncRequest(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseBody(body, "sync request"));
  Fields f(j, "SyncRequest");
  FERRY_RETURN_IF_ERROR(f.Version());
  SyncRequest m;
  FERRY_ASSIGN_OR_RETURN(m.version, f.String("Version", 64, false));
  FERRY_ASSIGN_OR_RETURN(const json* execs,
                         f.Array("Executions", kMaxExecutionsPerSync));
  if (execs) {
    for (size_t i = 0; i < execs->size(); ++i) {
      Fields e((*execs)[i], f.Path("Executions[" + std::to_string(i) + "]"));
      FERRY_RETURN_IF_ERROR(e.Check());
      ExecutionReport r;
      FERRY_ASSIGN_OR_RETURN(r.execution_arn, e.String("ExecutionArn", 256));
      FERRY_ASSIGN_OR_RETURN(r.status, e.String("Status", 32));
      FERRY_ASSIGN_OR_RETURN(const json* describe, e.Object("Describe"));
      r.describe = *describe;
      FERRY_ASSIGN_OR_RETURN(r.final, e.Bool("Final"));
      FERRY_RETURN_IF_ERROR(
          DecodeLogs(e, f.Path("Executions[" + std::to_string(i) + "]"), &r));
      m.executions.push_back(std::move(r));
    }
  }
  FERRY_ASSIGN_OR_RETURN(m.link_address,
                         f.String("LinkAddress", kMaxLinkAddressBytes, false));
  if (!m.link_address.empty()) {
    Result<HostPort> address = ParseHostPort(m.link_address);
    if (!address.ok()) {
      return Status::InvalidArgument("SyncRequest.LinkAddress: " +
                                     std::string(address.status().message()));
    }
  }
  FERRY_ASSIGN_OR_RETURN(const json* served,
                         f.Array("LinksServed", kMaxExecutionsPerSync));
  if (served) {
    for (size_t i = 0; i < served->size(); ++i) {
      const json& a = (*served)[i];
      if (!a.is_string() || a.get_ref<const std::string&>().empty() ||
          a.get_ref<const std::string&>().size() > 256) {
        return Status::InvalidArgument("SyncRequest.LinksServed[" +
                                       std::to_string(i) +
                                       "] must be an execution ARN");
      }
      m.links_served.push_back(a.get<std::string>());
    }
  }
  return m;
}

Result<SyncResponse> DecodeSyncResponse(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(json j, ParseBody(body, "sync response"));
  Fields f(j, "SyncResponse");
  FERRY_RETURN_IF_ERROR(f.Version());
  SyncResponse m;
  FERRY_ASSIGN_OR_RETURN(m.poll_interval_ms,
                         f.Int("PollIntervalMs", 10, 600000, false, 1000));
  FERRY_ASSIGN_OR_RETURN(
      m.heartbeat_interval_ms,
      f.Int("HeartbeatIntervalMs", 100, 600000, false, 30000));
  FERRY_ASSIGN_OR_RETURN(const json* acks,
                         f.Array("Acknowledged", kMaxExecutionsPerSync));
  if (acks) {
    for (size_t i = 0; i < acks->size(); ++i) {
      if (!(*acks)[i].is_string() ||
          (*acks)[i].get_ref<const std::string&>().size() > 256) {
        return Status::InvalidArgument("SyncResponse.Acknowledged[" +
                                       std::to_string(i) +
                                       "] must be an execution ARN");
      }
      m.acknowledged.push_back((*acks)[i].get<std::string>());
    }
  }
  FERRY_ASSIGN_OR_RETURN(const json* stored, f.Object("LogsStored", false));
  m.has_logs_stored = stored != nullptr;
  if (stored) {
    if (stored->size() > kMaxExecutionsPerSync) {
      return Status::InvalidArgument("SyncResponse.LogsStored has more than " +
                                     std::to_string(kMaxExecutionsPerSync) +
                                     " members");
    }
    for (const auto& [arn, seq] : stored->items()) {
      if (arn.size() > 256) {
        return Status::InvalidArgument(
            "SyncResponse.LogsStored has a member that is not an execution "
            "ARN");
      }
      if (!seq.is_number_integer() || seq.get<int64_t>() < 0 ||
          seq.get<int64_t>() > kMaxLogSeq) {
        return Status::InvalidArgument("SyncResponse.LogsStored." + arn +
                                       " must be an integer between 0 and " +
                                       std::to_string(kMaxLogSeq));
      }
      m.logs_stored[arn] = seq.get<int64_t>();
    }
  }
  FERRY_ASSIGN_OR_RETURN(const json* cmds,
                         f.Array("Commands", kMaxCommandsPerSync));
  if (!cmds) return m;
  for (size_t i = 0; i < cmds->size(); ++i) {
    const std::string where = f.Path("Commands[" + std::to_string(i) + "]");
    Fields c((*cmds)[i], where);
    FERRY_RETURN_IF_ERROR(c.Check());
    Command cmd;
    FERRY_ASSIGN_OR_RETURN(std::string type, c.String("Type", 32));
    if (type == "RunExecution") {
      cmd.type = Command::Type::kRunExecution;
    } else if (type == "CancelExecution") {
      cmd.type = Command::Type::kCancelExecution;
    } else if (type == "SetBandwidth") {
      cmd.type = Command::Type::kSetBandwidth;
    } else if (type == "ServeLink") {
      cmd.type = Command::Type::kServeLink;
    } else {
      return Status::InvalidArgument(where + ".Type '" + type +
                                     "' is not known");
    }
    FERRY_ASSIGN_OR_RETURN(cmd.execution_arn, c.String("ExecutionArn", 256));
    if (cmd.type != Command::Type::kCancelExecution &&
        cmd.type != Command::Type::kServeLink) {
      FERRY_ASSIGN_OR_RETURN(
          cmd.bytes_per_second,
          c.Int("BytesPerSecond", -1, int64_t{1} << 50, false, -1));
    }
    if (cmd.type == Command::Type::kRunExecution ||
        cmd.type == Command::Type::kServeLink) {
      const bool serve = cmd.type == Command::Type::kServeLink;
      FERRY_ASSIGN_OR_RETURN(const json* link, c.Object("Link", serve));
      if (link) {
        cmd.has_link = true;
        FERRY_ASSIGN_OR_RETURN(cmd.link,
                               DecodeLink(*link, where + ".Link", !serve));
      }
    }
    if (cmd.type == Command::Type::kServeLink) {
      FERRY_ASSIGN_OR_RETURN(const json* options, c.Object("Options"));
      cmd.options = *options;
      FERRY_ASSIGN_OR_RETURN(const json* dst, c.Object("Destination"));
      FERRY_ASSIGN_OR_RETURN(cmd.destination,
                             DecodeLocation(*dst, where + ".Destination"));
    }
    if (cmd.type == Command::Type::kRunExecution) {
      FERRY_ASSIGN_OR_RETURN(cmd.task_arn, c.String("TaskArn", 256));
      FERRY_ASSIGN_OR_RETURN(const json* options, c.Object("Options"));
      cmd.options = *options;
      FERRY_ASSIGN_OR_RETURN(cmd.includes, c.String("Includes", 102400, false));
      FERRY_ASSIGN_OR_RETURN(cmd.excludes, c.String("Excludes", 102400, false));
      FERRY_ASSIGN_OR_RETURN(const json* manifest,
                             c.Array("Manifest", 10000000));
      if (manifest) {
        cmd.has_manifest = true;
        for (const json& p : *manifest) {
          if (!p.is_string())
            return Status::InvalidArgument(where +
                                           ".Manifest holds a non-string");
          cmd.manifest.push_back(p.get<std::string>());
        }
      }
      FERRY_ASSIGN_OR_RETURN(const json* report, c.Object("Report", false));
      if (report) {
        Fields r(*report, where + ".Report");
        cmd.has_report = true;
        FERRY_ASSIGN_OR_RETURN(cmd.report_output_type,
                               r.String("OutputType", 32));
        FERRY_ASSIGN_OR_RETURN(cmd.report_level, r.String("ReportLevel", 32));
        if (cmd.report_output_type != "STANDARD" &&
            cmd.report_output_type != "SUMMARY_ONLY") {
          return Status::InvalidArgument(
              where + ".Report.OutputType must be STANDARD or SUMMARY_ONLY");
        }
        if (cmd.report_level != "ERRORS_ONLY" &&
            cmd.report_level != "SUCCESSES_AND_ERRORS") {
          return Status::InvalidArgument(
              where +
              ".Report.ReportLevel must be ERRORS_ONLY or "
              "SUCCESSES_AND_ERRORS");
        }
        FERRY_ASSIGN_OR_RETURN(const json* rd, r.Object("Destination", false));
        if (rd) {
          FERRY_ASSIGN_OR_RETURN(
              cmd.report_destination,
              DecodeLocation(*rd, where + ".Report.Destination"));
        }
      }
      FERRY_ASSIGN_OR_RETURN(const json* mo, c.Object("ManifestObject", false));
      if (mo) {
        FERRY_ASSIGN_OR_RETURN(cmd.manifest_object,
                               DecodeLocation(*mo, where + ".ManifestObject"));
        if (cmd.has_manifest) {
          return Status::InvalidArgument(
              where + " has both a Manifest and a ManifestObject");
        }
      }
      FERRY_ASSIGN_OR_RETURN(const json* src, c.Object("Source"));
      FERRY_ASSIGN_OR_RETURN(cmd.source,
                             DecodeLocation(*src, where + ".Source"));
      FERRY_ASSIGN_OR_RETURN(const json* dst, c.Object("Destination"));
      FERRY_ASSIGN_OR_RETURN(cmd.destination,
                             DecodeLocation(*dst, where + ".Destination"));
    }
    m.commands.push_back(std::move(cmd));
  }
  return m;
}

}  // namespace ferry::protocol
