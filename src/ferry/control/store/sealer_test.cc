#include "ferry/control/store/sealer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace ferry {
namespace {

std::array<unsigned char, 32> Key(unsigned char fill) {
  std::array<unsigned char, 32> key;
  key.fill(fill);
  return key;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "sealer_test.XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

mode_t Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

void WriteFile(const std::string& path, std::string_view data, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// Where the tests' values are kept.
const SealedPlace kPlace{"locations", "sealed_secrets",
                         "arn:aws:datasync:r:000000000000:location/loc-1"};

TEST(SealerTest, RoundTrips) {
  auto sealer = Sealer::FromKey(Key(7));
  std::string binary;
  for (int c = 0; c < 256; ++c) binary += static_cast<char>(c);
  for (const std::string& secret :
       {std::string(), std::string("hunter2"), std::string("pässwörd ✓ 🔑"),
        binary, std::string(100000, 'x')}) {
    Result<std::string> sealed = sealer->Seal(secret, kPlace);
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_TRUE(sealed->starts_with("v2:"));
    EXPECT_EQ(sealed->find(secret.substr(0, 16)),
              secret.empty() ? 0 : std::string::npos);
    Result<std::string> opened = sealer->Open(*sealed, kPlace);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, secret);
  }
}

TEST(SealerTest, SealedTextIsPrefixAndBase64OfNonceCiphertextTag) {
  auto sealer = Sealer::FromKey(Key(7));
  Result<std::string> sealed = sealer->Seal("abc", kPlace);
  ASSERT_TRUE(sealed.ok());
  // 12 + 3 + 16 = 31 bytes -> 44 base64 characters.
  EXPECT_EQ(sealed->size(), 3u + 44u);
}

TEST(SealerTest, EverySealUsesAFreshNonce) {
  auto sealer = Sealer::FromKey(Key(7));
  std::set<std::string> seen;
  std::set<std::string> nonces;
  for (int i = 0; i < 100; ++i) {
    Result<std::string> sealed = sealer->Seal("same secret", kPlace);
    ASSERT_TRUE(sealed.ok());
    seen.insert(*sealed);
    nonces.insert(sealed->substr(3, 16));  // 12 bytes = 16 base64 chars
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(nonces.size(), 100u);
}

TEST(SealerTest, DetectsAChangeOfAnyCharacter) {
  auto sealer = Sealer::FromKey(Key(7));
  Result<std::string> sealed = sealer->Seal("secret!", kPlace);
  ASSERT_TRUE(sealed.ok());
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  for (size_t i = 0; i < sealed->size(); ++i) {
    for (char c : alphabet) {
      if (c == (*sealed)[i]) continue;
      std::string tampered = *sealed;
      tampered[i] = c;
      Result<std::string> opened = sealer->Open(tampered, kPlace);
      ASSERT_FALSE(opened.ok()) << "position " << i << " -> " << c;
      EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss)
          << opened.status().ToString();
    }
  }
}

TEST(SealerTest, DetectsAFlippedBitInAnyByte) {
  auto sealer = Sealer::FromKey(Key(7));
  Result<std::string> sealed =
      sealer->Seal("secret!!", kPlace);  // 36 bytes: no pad
  ASSERT_TRUE(sealed.ok());
  // Decode, flip each bit of each byte, encode again: all must fail.
  auto decode = [](std::string_view b64) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : b64) {
      if (c == '=') break;
      int v = std::string_view(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01234567"
                  "89+/")
                  .find(c);
      acc = (acc << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += static_cast<char>((acc >> bits) & 0xFF);
      }
    }
    return out;
  };
  auto encode = [](std::string_view data) {
    static const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < data.size(); i += 3) {
      uint32_t v = static_cast<uint8_t>(data[i]) << 16;
      if (i + 1 < data.size()) v |= static_cast<uint8_t>(data[i + 1]) << 8;
      if (i + 2 < data.size()) v |= static_cast<uint8_t>(data[i + 2]);
      out += kAlphabet[v >> 18];
      out += kAlphabet[(v >> 12) & 63];
      out += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
      out += i + 2 < data.size() ? kAlphabet[v & 63] : '=';
    }
    return out;
  };
  std::string blob = decode(sealed->substr(3));
  ASSERT_EQ(blob.size(), 12u + 8u + 16u);
  ASSERT_EQ("v2:" + encode(blob), *sealed);
  for (size_t i = 0; i < blob.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string tampered = blob;
      tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
      Result<std::string> opened =
          sealer->Open("v2:" + encode(tampered), kPlace);
      ASSERT_FALSE(opened.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
    }
  }
}

TEST(SealerTest, DetectsTruncationAndExtension) {
  auto sealer = Sealer::FromKey(Key(7));
  Result<std::string> sealed = sealer->Seal("a longer secret value", kPlace);
  ASSERT_TRUE(sealed.ok());
  for (size_t n = 0; n < sealed->size(); ++n) {
    Result<std::string> opened = sealer->Open(sealed->substr(0, n), kPlace);
    ASSERT_FALSE(opened.ok()) << n;
    EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  }
  for (const char* tail : {"A", "AAAA", "\n", " "}) {
    EXPECT_EQ(sealer->Open(*sealed + tail, kPlace).status().code(),
              StatusCode::kDataLoss)
        << tail;
  }
}

TEST(SealerTest, RefusesAWrongPrefix) {
  auto sealer = Sealer::FromKey(Key(7));
  Result<std::string> sealed = sealer->Seal("secret", kPlace);
  ASSERT_TRUE(sealed.ok());
  std::string body = sealed->substr(3);
  for (const std::string& bad : {body, "v1:" + body, "v3:" + body, "V2:" + body,
                                 " v2:" + body, std::string("plain text")}) {
    Result<std::string> opened = sealer->Open(bad, kPlace);
    ASSERT_FALSE(opened.ok()) << bad;
    EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  }
}

// A value opens only at the place (table, column, row) it was sealed for:
// moved onto another location's row (write access to the database, no key),
// it does not hand that location's password to the other's agents.
TEST(SealerTest, AValueOpensOnlyWhereItWasSealedFor) {
  auto sealer = Sealer::FromKey(Key(7));
  Result<std::string> sealed = sealer->Seal("pa55word", kPlace);
  ASSERT_TRUE(sealed.ok());
  const std::string row_and_nul = std::string(kPlace.row) + '\0';
  for (const SealedPlace& elsewhere :
       {SealedPlace{kPlace.table, kPlace.column,
                    "arn:aws:datasync:r:000000000000:location/loc-2"},
        SealedPlace{kPlace.table, "other_column", kPlace.row},
        SealedPlace{"access_keys", kPlace.column, kPlace.row},
        SealedPlace{kPlace.table, kPlace.column, ""},
        // The separators make these differ from kPlace's bytes too.
        SealedPlace{"locationssealed_secrets", "", kPlace.row},
        SealedPlace{kPlace.table, kPlace.column, row_and_nul}}) {
    Result<std::string> opened = sealer->Open(*sealed, elsewhere);
    ASSERT_FALSE(opened.ok())
        << elsewhere.table << "/" << elsewhere.column << "/" << elsewhere.row;
    EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(opened.status().message().find("moved from another row"),
              std::string::npos)
        << opened.status().ToString();
  }
  Result<std::string> opened = sealer->Open(*sealed, kPlace);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "pa55word");
  // Nor does it open as an unbound (version 1) value.
  EXPECT_EQ(sealer->OpenUnbound(*sealed).status().code(),
            StatusCode::kDataLoss);
}

// Values ferry sealed before they were bound to their row ("v1:", no
// associated data; this one is fuzz/corpus/fuzz_sealer/password, under the
// key 0, 1, ..., 31) open only through OpenUnbound, which the migration
// that reseals them uses; Open refuses them wherever they are.
TEST(SealerTest, UnboundValuesOpenOnlyThroughOpenUnbound) {
  std::array<unsigned char, 32> key;
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<unsigned char>(i);
  }
  auto sealer = Sealer::FromKey(key);
  const std::string v1 = "v1:ff8amQ55hH0MyLL6MzK5TA38qBPXJ/pT3eB5A4qZuePtldc=";
  EXPECT_TRUE(Sealer::IsUnbound(v1));
  Result<std::string> opened = sealer->OpenUnbound(v1);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "hunter2");
  Result<std::string> refused = sealer->Open(v1, kPlace);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("version 1"), std::string::npos)
      << refused.status().ToString();
  Result<std::string> bound = sealer->Seal("hunter2", kPlace);
  ASSERT_TRUE(bound.ok());
  EXPECT_FALSE(Sealer::IsUnbound(*bound));
  std::string changed = v1;
  changed[5] = changed[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(sealer->OpenUnbound(changed).status().code(),
            StatusCode::kDataLoss);
}

TEST(SealerTest, DetectsAWrongKey) {
  Result<std::string> sealed = Sealer::FromKey(Key(7))->Seal("secret", kPlace);
  ASSERT_TRUE(sealed.ok());
  auto other = Key(7);
  other[31] ^= 1;
  Result<std::string> opened = Sealer::FromKey(other)->Open(*sealed, kPlace);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("another key"), std::string::npos);
}

TEST(SealerTest, KeyFileIsCreatedPrivateAndReused) {
  TempDir dir;
  const std::string path = dir.path() + "/secret.key";
  Result<std::unique_ptr<Sealer>> first = Sealer::OpenKeyFile(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(std::filesystem::file_size(path), 32u);
  // Nothing else is left in the directory (no temporary file).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);

  Result<std::string> sealed = (*first)->Seal("kept across restarts", kPlace);
  ASSERT_TRUE(sealed.ok());
  Result<std::unique_ptr<Sealer>> second = Sealer::OpenKeyFile(path);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  Result<std::string> opened = (*second)->Open(*sealed, kPlace);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "kept across restarts");

  // A key made elsewhere cannot open it.
  TempDir other_dir;
  Result<std::unique_ptr<Sealer>> other =
      Sealer::OpenKeyFile(other_dir.path() + "/secret.key");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Open(*sealed, kPlace).status().code(),
            StatusCode::kDataLoss);
}

TEST(SealerTest, KeyFileCreatedUnderAPermissiveUmaskIsStill0600) {
  TempDir dir;
  mode_t old = umask(0);
  Result<std::unique_ptr<Sealer>> sealer =
      Sealer::OpenKeyFile(dir.path() + "/secret.key");
  umask(old);
  ASSERT_TRUE(sealer.ok()) << sealer.status().ToString();
  EXPECT_EQ(Mode(dir.path() + "/secret.key"), 0600u);
}

TEST(SealerTest, RefusesAKeyFileOthersCanRead) {
  TempDir dir;
  const std::string path = dir.path() + "/secret.key";
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    WriteFile(path, std::string(32, 'k'), mode);
    Result<std::unique_ptr<Sealer>> sealer = Sealer::OpenKeyFile(path);
    ASSERT_FALSE(sealer.ok()) << std::oct << mode;
    EXPECT_EQ(sealer.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(sealer.status().message().find("chmod 600"), std::string::npos)
        << sealer.status().ToString();
  }
  WriteFile(path, std::string(32, 'k'), 0400);
  EXPECT_TRUE(Sealer::OpenKeyFile(path).ok());
}

TEST(SealerTest, RefusesAKeyFileOfTheWrongSize) {
  TempDir dir;
  const std::string path = dir.path() + "/secret.key";
  for (size_t size : {0, 16, 31, 33, 64}) {
    WriteFile(path, std::string(size, 'k'), 0600);
    Result<std::unique_ptr<Sealer>> sealer = Sealer::OpenKeyFile(path);
    ASSERT_FALSE(sealer.ok()) << size;
    EXPECT_EQ(sealer.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(sealer.status().message().find("not 32"), std::string::npos)
        << sealer.status().ToString();
  }
}

TEST(SealerTest, RefusesASymlinkOrADirectory) {
  TempDir dir;
  WriteFile(dir.path() + "/real.key", std::string(32, 'k'), 0600);
  ASSERT_EQ(symlink("real.key", (dir.path() + "/link.key").c_str()), 0);
  EXPECT_FALSE(Sealer::OpenKeyFile(dir.path() + "/link.key").ok());
  ASSERT_EQ(mkdir((dir.path() + "/dir.key").c_str(), 0700), 0);
  EXPECT_FALSE(Sealer::OpenKeyFile(dir.path() + "/dir.key").ok());
}

TEST(SealerTest, ReportsAMissingDirectory) {
  TempDir dir;
  Result<std::unique_ptr<Sealer>> sealer =
      Sealer::OpenKeyFile(dir.path() + "/missing/secret.key");
  ASSERT_FALSE(sealer.ok());
  EXPECT_NE(sealer.status().message().find("missing"), std::string::npos)
      << sealer.status().ToString();
}

}  // namespace
}  // namespace ferry
