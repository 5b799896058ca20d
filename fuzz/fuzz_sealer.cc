// Fuzzes Sealer::Open and Sealer::OpenUnbound, which decode the sealed
// secrets the server reads back from its database ("v2:" + strict base64 of
// nonce | ciphertext | tag, AES-256-GCM with the value's place as associated
// data; "v1:" the same without, as ferry sealed before), under a fixed key
// (bytes 0, 1, ..., 31; the seeds in fuzz/corpus/fuzz_sealer were sealed
// under it, the "v2:" ones for kPlace). The whole input is both the sealed
// text to open and a plaintext to seal.
//
// Opening must fail with DataLoss and a message, unless the input is sealed
// under the key: then it has exactly one spelling, so every one-character
// change to it must fail to open, and a "v2:" value must not open at another
// place. Sealing the input and opening the result must give the input back,
// and a one-character change to that sealed text (at a place the input
// picks) must fail to open.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/control/store/sealer.h"

namespace {

const ferry::Sealer& TheSealer() {
  static const std::unique_ptr<ferry::Sealer> sealer = [] {
    std::array<unsigned char, 32> key;
    for (size_t i = 0; i < key.size(); ++i) {
      key[i] = static_cast<unsigned char>(i);
    }
    return ferry::Sealer::FromKey(key);
  }();
  return *sealer;
}

// Another character of the sealed alphabet (or '=' / '!' past it).
char Other(char c) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  size_t at = kAlphabet.find(c);
  if (at == std::string_view::npos) return 'A';
  return kAlphabet[(at + 1) % kAlphabet.size()];
}

constexpr ferry::SealedPlace kPlace{"locations", "sealed_secrets",
                                    "arn:aws:datasync:r:0:location/loc-1"};
constexpr ferry::SealedPlace kElsewhere{"locations", "sealed_secrets",
                                        "arn:aws:datasync:r:0:location/loc-2"};

bool FailsCleanly(const ferry::Result<std::string>& r) {
  return !r.ok() && r.status().code() == ferry::StatusCode::kDataLoss &&
         !r.status().message().empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ferry::Sealer& sealer = TheSealer();
  std::string_view text(reinterpret_cast<const char*>(data), size);

  for (bool unbound : {false, true}) {
    auto open = [&](std::string_view sealed) {
      return unbound ? sealer.OpenUnbound(sealed) : sealer.Open(sealed, kPlace);
    };
    auto opened = open(text);
    if (opened.ok()) {
      std::string changed(text);
      for (size_t i = 0; i < changed.size(); ++i) {
        const char was = changed[i];
        changed[i] = Other(was);
        if (!FailsCleanly(open(changed))) std::abort();
        changed[i] = was;
      }
      if (!unbound && !FailsCleanly(sealer.Open(text, kElsewhere))) {
        std::abort();
      }
    } else if (!FailsCleanly(opened)) {
      std::abort();
    }
  }

  auto sealed = sealer.Seal(text, kPlace);
  if (!sealed.ok()) std::abort();
  auto back = sealer.Open(*sealed, kPlace);
  if (!back.ok() || *back != text) std::abort();
  if (!FailsCleanly(sealer.Open(*sealed, kElsewhere))) std::abort();
  if (!FailsCleanly(sealer.OpenUnbound(*sealed))) std::abort();
  uint32_t h = 2166136261u;  // FNV-1a picks the character to change
  for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  std::string changed = *sealed;
  const size_t at = h % changed.size();
  changed[at] = Other(changed[at]);
  if (!FailsCleanly(sealer.Open(changed, kPlace))) std::abort();
  return 0;
}
