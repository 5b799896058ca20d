// Fuzzes RelPath::Parse (paths from peers, manifests and the API) and the
// invariants of what it accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ferry/base/rel_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ferry::RelPath::Parse(text);
  if (!parsed.ok()) return 0;
  const ferry::RelPath& p = *parsed;
  // Whatever is accepted can never climb out of the root.
  std::string_view s = p.str();
  if (!s.empty() && (s.front() == '/' || s.back() == '/')) std::abort();
  if (s == ".." || s.substr(0, 3) == "../" ||
      s.find("/../") != std::string_view::npos ||
      (s.size() >= 3 && s.substr(s.size() - 3) == "/..")) {
    std::abort();
  }
  // Parsing is idempotent and the parent is an ancestor.
  auto again = ferry::RelPath::Parse(s);
  if (!again.ok() || !(*again == p)) std::abort();
  if (!p.IsRoot() && !p.Parent().IsAncestorOf(p)) std::abort();
  (void)ferry::EscapeForDisplay(text);
  return 0;
}
