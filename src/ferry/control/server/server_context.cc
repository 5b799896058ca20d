#include "ferry/control/server/server_context.h"

#include <openssl/rand.h>

namespace ferry::control {

std::string ServerContext::Arn(const std::string& resource) const {
  return "arn:aws:datasync:" + config.region + ":" + config.account + ":" +
         resource;
}

std::string ServerContext::NewId(const std::string& prefix) {
  // Tasks and executions use hex; agents and locations [0-9a-z] (DataSync's
  // ARN patterns).
  const bool hex = prefix == "task" || prefix == "exec";
  static const char kHex[] = "0123456789abcdef";
  static const char kAlnum[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  unsigned char bytes[17];
  RAND_bytes(bytes, sizeof(bytes));
  std::string id = prefix + "-";
  for (unsigned char b : bytes)
    id.push_back(hex ? kHex[b % 16] : kAlnum[b % 36]);
  return id;
}

}  // namespace ferry::control
