#include "ferry/smb/security_descriptor.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ferry {
namespace {

bool ParseUnsigned(std::string_view text, int base, uint64_t max,
                   uint64_t* out) {
  if (text.empty() || text.size() > 16) return false;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return false;
    }
    value = value * base + static_cast<uint64_t>(digit);
    if (value > max) return false;
  }
  *out = value;
  return true;
}

// A SID in numeric form: S-1-5-21-1111-2222-3333-1001 (at most 15
// sub-authorities of 32 bits, and a 48-bit authority).
bool ValidSid(std::string_view sid) {
  if (!sid.starts_with("S-") || sid.size() > 2 + 17 * 11) return false;
  sid.remove_prefix(2);
  int parts = 0;
  while (true) {
    const size_t dash = sid.find('-');
    uint64_t value;
    if (!ParseUnsigned(sid.substr(0, dash), 10, 0xffffffffffffULL, &value)) {
      return false;
    }
    ++parts;
    if (dash == std::string_view::npos) break;
    sid.remove_prefix(dash + 1);
  }
  return parts >= 2 && parts <= 17;
}

// TYPE/FLAGS/MASK, the mask in hex (0x...) or decimal.
bool ParseAce(std::string_view ace, uint64_t* type, uint64_t* flags,
              uint64_t* mask) {
  const size_t a = ace.find('/');
  if (a == std::string_view::npos) return false;
  const size_t b = ace.find('/', a + 1);
  if (b == std::string_view::npos) return false;
  std::string_view m = ace.substr(b + 1);
  int base = 10;
  if (m.starts_with("0x") || m.starts_with("0X")) {
    m.remove_prefix(2);
    base = 16;
  }
  return ParseUnsigned(ace.substr(0, a), 10, 255, type) &&
         ParseUnsigned(ace.substr(a + 1, b - a - 1), 10, 255, flags) &&
         ParseUnsigned(m, base, 0xffffffffu, mask);
}

}  // namespace

Result<std::string> NormalizeSecurityDescriptor(std::string_view text) {
  if (text.size() > kMaxSecurityDescriptorBytes) {
    return Status::InvalidArgument("the security descriptor is longer than " +
                                   std::to_string(kMaxSecurityDescriptorBytes) +
                                   " bytes");
  }
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) {
      return Status::InvalidArgument(
          "the security descriptor holds a byte that is not printable ASCII");
    }
  }
  std::vector<std::string> head, aces;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part.starts_with("GROUP:")) continue;
    uint64_t revision;
    if ((part.starts_with("REVISION:") &&
         ParseUnsigned(part.substr(9), 10, 255, &revision)) ||
        (part.starts_with("OWNER:") && ValidSid(part.substr(6)))) {
      head.emplace_back(part);
      continue;
    }
    if (!part.starts_with("ACL:")) {
      return Status::InvalidArgument("unexpected or unreadable part '" +
                                     std::string(part.substr(0, 40)) +
                                     "' in a security descriptor");
    }
    if (aces.size() >= kMaxSecurityDescriptorEntries) {
      return Status::InvalidArgument(
          "the security descriptor has more than " +
          std::to_string(kMaxSecurityDescriptorEntries) + " entries");
    }
    // ACL:SID:TYPE/FLAGS/MASK (a numeric SID has no colon).
    const size_t colon = part.rfind(':');
    uint64_t type = 0, flags = 0, mask = 0;
    if (colon <= 4 || !ValidSid(part.substr(4, colon - 4)) ||
        !ParseAce(part.substr(colon + 1), &type, &flags, &mask)) {
      return Status::InvalidArgument("unreadable entry '" +
                                     std::string(part.substr(0, 80)) +
                                     "' in a security descriptor");
    }
    aces.push_back(std::string(part.substr(0, colon + 1)) +
                   std::to_string(type) + "/" + std::to_string(flags) + "/" +
                   std::to_string(mask));
  }
  std::sort(aces.begin(), aces.end());
  std::string out;
  for (const auto* list : {&head, &aces}) {
    for (const std::string& part : *list) {
      if (!out.empty()) out += ',';
      out += part;
    }
  }
  return out;
}

}  // namespace ferry
