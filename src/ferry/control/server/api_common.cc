// What all API handlers share: DataSync-shaped errors, paging.
#include <openssl/evp.h>

#include "ferry/control/server/api.h"

namespace ferry::control {

ApiError InvalidRequest(std::string message, std::string error_code) {
  ApiError e;
  e.http_status = 400;
  e.type = "InvalidRequestException";
  e.message = std::move(message);
  e.error_code = std::move(error_code);
  return e;
}

ApiError NotFound(const std::string& what) {
  // DataSync answers a missing resource with InvalidRequestException.
  return InvalidRequest(what + " not found.");
}

ApiError Internal(const Status& status) {
  ApiError e;
  e.http_status = 500;
  e.type = "InternalException";
  e.message = "Internal error: " + std::string(status.message());
  return e;
}

std::string EncodeNextToken(const std::string& key) {
  if (key.empty()) return "";
  std::string out(4 * ((key.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(key.data()),
                          static_cast<int>(key.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> DecodeNextToken(const std::string& token) {
  if (token.empty()) return std::string();
  if (token.size() % 4 != 0 || token.size() > 4096) {
    return Status::InvalidArgument("Invalid NextToken.");
  }
  std::string out(token.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(token.data()),
                          static_cast<int>(token.size()));
  if (n < 0) return Status::InvalidArgument("Invalid NextToken.");
  size_t pad = 0;
  if (!token.empty() && token.back() == '=') ++pad;
  if (token.size() > 1 && token[token.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

int PageSize(const nlohmann::json& request) {
  auto it = request.find("MaxResults");
  if (it == request.end() || !it->is_number_integer()) return 100;
  int64_t v = it->get<int64_t>();
  if (v < 1) return 1;
  if (v > 100) return 100;
  return static_cast<int>(v);
}

ApiRegistry AllApis() {
  ApiRegistry r;
  RegisterAgentApis(&r);
  RegisterLocationApis(&r);
  RegisterTaskApis(&r);
  RegisterExecutionApis(&r);
  RegisterTagApis(&r);
  return r;
}

}  // namespace ferry::control
