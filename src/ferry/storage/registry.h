// Locations by URI: one registry maps a location type ("local", "memory", and
// later "s3", "smb", "nfs", "azure") to the factory that opens its backend.
// RegisterBuiltinBackends() fills it explicitly; nothing registers itself
// from a static initializer. Thread-safe after registration.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/storage/backend.h"

namespace ferry {

struct LocationSpec {
  std::string type;  // "local", "memory"
  std::string path;  // local: a directory; memory: the store's name
  // Create the root if it does not exist (destinations).
  bool create_root = false;
  // The location is written to (a destination), as opposed to only read.
  bool destination = false;
};

// Accepts "/abs/dir", "rel/dir", "file:///abs/dir" (local) and "memory:NAME".
// A scheme that is not registered is an error that lists the ones that are.
Result<LocationSpec> ParseLocationUri(std::string_view uri);

using BackendFactory =
    std::function<Result<std::unique_ptr<Backend>>(const LocationSpec&)>;

void RegisterBackend(const std::string& type, BackendFactory factory);
// Registers "local" and "memory". Idempotent.
void RegisterBuiltinBackends();

Result<std::unique_ptr<Backend>> OpenBackend(const LocationSpec& spec);

}  // namespace ferry
