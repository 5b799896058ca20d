// Fuzzes the Azure Blob client's decoders of response bodies
// (azure/azure_xml.h), which read whatever an Azure endpoint sends. The whole
// input is the body; every decoder reads it (each checks the root element it
// expects). Whatever decodes must be within the documented limits: names 1 to
// 1024 bytes of UTF-8, at most 5000 entries per page, sizes within 2^53,
// bounded etags, tiers, markers and metadata; a bounded error document.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "ferry/azure/azure_xml.h"
#include "ferry/base/utf8.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool NameOk(const std::string& name) {
  return !name.empty() && name.size() <= ferry::kAzureMaxBlobNameBytes &&
         ferry::IsValidUtf8(name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  using namespace ferry;

  if (auto page = ParseListBlobs(xml); page.ok()) {
    Check(page->blobs.size() + page->prefixes.size() <=
          static_cast<size_t>(kAzureMaxListResults));
    Check(page->next_marker.size() <= 4096);
    for (const AzureBlobItem& b : page->blobs) {
      Check(NameOk(b.name));
      Check(b.size <= (uint64_t{1} << 53));
      Check(b.etag.size() <= 256);
      Check(b.last_modified_ns >= 0);
      Check(b.access_tier.size() <= 32);
      size_t metadata_bytes = 0;
      for (const auto& [name, value] : b.metadata) {
        Check(!name.empty() && IsValidUtf8(name) && IsValidUtf8(value));
        metadata_bytes += name.size() + value.size();
      }
      Check(metadata_bytes <= 8192);
    }
    for (const std::string& p : page->prefixes) Check(NameOk(p));
  }
  if (auto error = ParseAzureError(xml)) {
    Check(error->code.size() <= 128 && error->message.size() <= 2048);
  }
  return 0;
}
