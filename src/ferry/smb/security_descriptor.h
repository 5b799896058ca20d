// Windows security descriptors in libsmbclient's text form, as an SMB
// server (through libsmbclient's system.nt_sec_desc.* attribute) describes
// them: "REVISION:1,OWNER:S-1-5-21-...,GROUP:S-1-22-2-0,ACL:S-1-1-0:0/3/
// 0x001200a9,...", each ACL entry SID:TYPE/FLAGS/MASK.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

inline constexpr size_t kMaxSecurityDescriptorBytes = 64 << 10;
inline constexpr size_t kMaxSecurityDescriptorEntries = 1820;  // as Windows

// What ferry copies of one (OWNER_DACL): the revision, the owner and the
// DACL's entries, the group left out, each entry's mask in decimal (as
// libsmbclient reads it back: its writer prints hex, which its reader
// takes as 0) and the entries sorted (as libsmbclient sorts them when it
// sets them, so a copy compares equal to its original). Empty for an empty
// text. SIDs must be numeric (S-1-5-...). InvalidArgument, saying what,
// for anything else: a byte outside printable ASCII, an unknown part, an
// unreadable SID or entry, more than
// kMaxSecurityDescriptorBytes or kMaxSecurityDescriptorEntries.
Result<std::string> NormalizeSecurityDescriptor(std::string_view text);

}  // namespace ferry
