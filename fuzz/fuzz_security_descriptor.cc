// Fuzzes the decoder of the security descriptors an SMB server describes
// (smb/security_descriptor.h): whatever it accepts is bounded, printable,
// made only of the parts ferry copies, and normalizing it again changes
// nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ferry/smb/security_descriptor.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto got = ferry::NormalizeSecurityDescriptor(text);
  if (!got.ok()) return 0;
  Check(got->size() <= ferry::kMaxSecurityDescriptorBytes * 2);
  Check(got->find("GROUP:") == std::string::npos);
  for (char c : *got) Check(c >= 0x20 && c <= 0x7e);
  auto again = ferry::NormalizeSecurityDescriptor(*got);
  Check(again.ok() && *again == *got);
  return 0;
}
