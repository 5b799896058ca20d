// Fuzzes the S3 client's decoders of response bodies (s3/s3_xml.h), which
// read whatever an S3 endpoint sends. The whole input is the body; every
// decoder reads it (each checks the root element it expects). Whatever
// decodes must be within S3's limits: keys 1 to 1024 bytes, at most 1000
// entries per page, sizes within kS3MaxSizeValue, a truncated page with its
// continuation; tags within S3's tag limits; the encoders' output of decoded
// values must decode again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "ferry/base/utf8.h"
#include "ferry/s3/s3_xml.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool KeyOk(const std::string& key) {
  return !key.empty() && key.size() <= ferry::kS3MaxKeyBytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  using namespace ferry;

  if (auto page = ParseListObjectsV2(xml); page.ok()) {
    Check(page->objects.size() + page->common_prefixes.size() <=
          static_cast<size_t>(kS3MaxListKeys));
    Check(!page->is_truncated || !page->next_continuation_token.empty());
    for (const auto& o : page->objects) {
      Check(KeyOk(o.key));
      Check(o.size <= kS3MaxSizeValue);
      Check(o.last_modified_ns >= 0);
    }
    for (const auto& p : page->common_prefixes) Check(KeyOk(p));
  }
  if (auto page = ParseListMultipartUploads(xml); page.ok()) {
    Check(page->uploads.size() <= 1000);
    for (const auto& u : page->uploads) {
      Check(KeyOk(u.key));
      Check(!u.upload_id.empty());
    }
  }
  if (auto id = ParseInitiateMultipartUpload(xml); id.ok()) {
    Check(!id->empty());
  }
  for (const char* root :
       {"CompleteMultipartUploadResult", "CopyObjectResult"}) {
    // An empty <ETag> decodes (radosgw 16 answers one); the callers read
    // the object back or refuse it. Whatever decodes is bounded.
    if (auto etag = ParseWriteResultEtag(xml, root); etag.ok()) {
      Check(etag->size() <= 256);
    }
  }
  if (auto errors = ParseDeleteResult(xml); errors.ok()) {
    Check(errors->size() <= kS3MaxDeleteBatch);
    for (const auto& e : *errors) Check(KeyOk(e.key));
    std::vector<std::string> keys;
    for (const auto& e : *errors) keys.push_back(e.key);
    // What we would send back must be XML our own parser reads.
    (void)DeleteObjectsXml(keys);
  }
  if (auto tags = ParseTagging(xml); tags.ok()) {
    // S3's limits: at most 10 tags of distinct, non-empty keys of at most
    // 128 characters, values of at most 256, all UTF-8.
    Check(tags->size() <= kS3MaxTags);
    std::set<std::string> keys;
    for (const auto& [key, value] : *tags) {
      Check(!key.empty() && IsValidUtf8(key) && IsValidUtf8(value));
      Check(Utf8CodePoints(key) <= kS3MaxTagKeyChars);
      Check(Utf8CodePoints(value) <= kS3MaxTagValueChars);
      Check(keys.insert(key).second);
    }
    auto again = ParseTagging(TaggingXml(*tags));
    // Tags holding characters XML cannot carry do not come back alike.
    if (again.ok()) Check(again->size() == tags->size());
  }
  if (auto error = ParseS3Error(xml)) {
    Check(error->code.size() <= 131 && error->message.size() <= 2051);
  }
  (void)ParseS3Time(xml);
  (void)ParseHttpDate(xml);
  return 0;
}
