#include "ferry/smb/security_descriptor.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

TEST(SecurityDescriptorTest, KeepsOwnerAndDaclSortedWithDecimalMasks) {
  auto got = NormalizeSecurityDescriptor(
      "REVISION:1,OWNER:S-1-22-1-0,GROUP:S-1-22-2-0,"
      "ACL:S-1-22-1-0:0/0/0x001f01ff,ACL:S-1-1-0:1/3/0x00000116,"
      "ACL:S-1-5-18:0/0/2032127");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got,
            "REVISION:1,OWNER:S-1-22-1-0,ACL:S-1-1-0:1/3/278,"
            "ACL:S-1-22-1-0:0/0/2032127,ACL:S-1-5-18:0/0/2032127");
  // Normalizing is idempotent: a copy read back compares equal.
  auto again = NormalizeSecurityDescriptor(*got);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *got);
  EXPECT_EQ(*NormalizeSecurityDescriptor(""), "");
}

TEST(SecurityDescriptorTest, RefusesWhatIsNotOne) {
  for (const std::string& bad :
       {std::string("OWNER:S-1-1-0,SACL:S-1-1-0:0/0/1"),
        std::string("ACL:S-1-1-0:0/0"), std::string("ACL:S-1-1-0:0/0/0xZZ"),
        std::string("ACL:S-1-1-0:256/0/1"),
        std::string("ACL:S-1-1-0:0/0/0x100000000"), std::string("ACL::0/0/1"),
        std::string("OWNER:S-1-1-0\n"), std::string("OWNER:\xff"),
        std::string("OWNER:Unix User\\root"), std::string("OWNER:S-1--2"),
        std::string("REVISION:x"), std::string("ACL:S-1:0/0/1"),
        std::string(kMaxSecurityDescriptorBytes + 1, 'A')}) {
    EXPECT_FALSE(NormalizeSecurityDescriptor(bad).ok()) << bad.substr(0, 60);
  }
  std::string many = "REVISION:1";
  for (size_t i = 0; i <= kMaxSecurityDescriptorEntries; ++i) {
    many += ",ACL:S-1-1-0:0/0/1";
  }
  auto st = NormalizeSecurityDescriptor(many);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("entries"), std::string::npos);
}

}  // namespace
}  // namespace ferry
