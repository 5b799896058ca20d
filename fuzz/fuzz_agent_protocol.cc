// Fuzzes the agent <-> server protocol decoders: the server decodes what
// agents send and agents decode what the server sends; neither trusts the
// other. Anything a decoder accepts must encode and decode to the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ferry/protocol/agent_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace p = ferry::protocol;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto m = p::DecodeSyncRequest(text); m.ok()) {
    auto again = p::DecodeSyncRequest(p::Encode(*m).dump());
    if (!again.ok() || again->executions.size() != m->executions.size())
      std::abort();
    for (size_t i = 0; i < m->executions.size(); ++i) {
      if (again->executions[i].logs.size() != m->executions[i].logs.size() ||
          again->executions[i].logs_seq != m->executions[i].logs_seq)
        std::abort();
    }
  }
  if (auto m = p::DecodeSyncResponse(text); m.ok()) {
    auto again = p::DecodeSyncResponse(p::Encode(*m).dump());
    if (!again.ok() || again->commands.size() != m->commands.size() ||
        again->logs_stored != m->logs_stored ||
        again->has_logs_stored != m->has_logs_stored)
      std::abort();
  }
  (void)p::DecodeActivationRequest(text);
  (void)p::DecodeActivationGrant(text);
  (void)p::DecodeActivationStatus(text);
  return 0;
}
