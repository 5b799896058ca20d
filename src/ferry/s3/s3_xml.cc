#include "ferry/s3/s3_xml.h"

#include <chrono>
#include <cstring>
#include <functional>
#include <pugixml.hpp>
#include <set>
#include <sstream>

#include "ferry/base/utf8.h"

namespace ferry {
namespace {

constexpr size_t kMaxEtagBytes = 256;
constexpr size_t kMaxTokenBytes = 8192;
constexpr size_t kMaxUploadIdBytes = 1024;
constexpr size_t kMaxClassBytes = 64;
constexpr size_t kMaxCodeBytes = 128;
constexpr size_t kMaxMessageBytes = 2048;
// At most 4 bytes per character of UTF-8.
constexpr size_t kMaxTagKeyBytes = 4 * kS3MaxTagKeyChars;
constexpr size_t kMaxTagValueBytes = 4 * kS3MaxTagValueChars;
constexpr size_t kMaxUploadsPerPage = 1000;

Status Malformed(std::string_view what, std::string_view why) {
  return Status::IoError("malformed " + std::string(what) +
                         " response: " + std::string(why));
}

// Parses `xml` and checks its root element's name.
Result<pugi::xml_node> Load(pugi::xml_document* doc, std::string_view xml,
                            const char* root, std::string_view what) {
  if (xml.size() > kS3MaxXmlBytes) {
    return Malformed(what, "document longer than " +
                               std::to_string(kS3MaxXmlBytes) + " bytes");
  }
  pugi::xml_parse_result parsed = doc->load_buffer(
      xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!parsed) {
    return Malformed(what, std::string("not XML (") + parsed.description() +
                               " at offset " + std::to_string(parsed.offset) +
                               ")");
  }
  pugi::xml_node node = doc->document_element();
  if (std::strcmp(node.name(), root) != 0) {
    return Malformed(what, "root element is <" + std::string(node.name()) +
                               ">, not <" + root + ">");
  }
  return node;
}

// The text of `parent`'s child `name`, at most `max` bytes.
Result<std::string> Text(pugi::xml_node parent, const char* name, size_t max,
                         std::string_view what) {
  const char* text = parent.child(name).text().get();
  size_t size = std::strlen(text);
  if (size > max) {
    return Malformed(what, std::string("<") + name + "> longer than " +
                               std::to_string(max) + " bytes");
  }
  return std::string(text, size);
}

Result<uint64_t> Number(pugi::xml_node parent, const char* name, uint64_t max,
                        std::string_view what) {
  std::string_view text = parent.child(name).text().get();
  if (text.empty() || text.size() > 20) {
    return Malformed(what, std::string("<") + name + "> is not a number");
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return Malformed(what, std::string("<") + name + "> is not a number");
    }
    if (value > (max - static_cast<uint64_t>(c - '0')) / 10) {
      return Malformed(
          what, std::string("<") + name + "> exceeds " + std::to_string(max));
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

Result<bool> Bool(pugi::xml_node parent, const char* name,
                  std::string_view what) {
  std::string_view text = parent.child(name).text().get();
  if (text.empty() || text == "false") return false;
  if (text == "true") return true;
  return Malformed(what,
                   std::string("<") + name + "> is neither true nor false");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// encoding-type=url: %XX escapes, and '+' for a space (as S3 writes it and
// botocore reads it).
Result<std::string> UrlDecode(std::string_view s, std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size() || HexValue(s[i + 1]) < 0 ||
          HexValue(s[i + 2]) < 0) {
        return Malformed(what, "a bad %-escape in a url-encoded key");
      }
      out.push_back(
          static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A key (or prefix): decoded if the listing is url-encoded, at most
// kS3MaxKeyBytes once decoded; empty only if `may_be_empty`.
Result<std::string> Key(pugi::xml_node parent, const char* name, bool url,
                        bool may_be_empty, std::string_view what) {
  FERRY_ASSIGN_OR_RETURN(std::string raw,
                         Text(parent, name, 3 * kS3MaxKeyBytes, what));
  std::string key = std::move(raw);
  if (url) {
    FERRY_ASSIGN_OR_RETURN(key, UrlDecode(key, what));
  }
  if (key.size() > kS3MaxKeyBytes) {
    return Malformed(
        what, "a key longer than " + std::to_string(kS3MaxKeyBytes) + " bytes");
  }
  if (key.empty() && !may_be_empty) {
    return Malformed(what, std::string("an empty <") + name + ">");
  }
  return key;
}

Result<int64_t> Time(pugi::xml_node parent, const char* name,
                     std::string_view what) {
  std::optional<int64_t> t = ParseS3Time(parent.child(name).text().get());
  if (!t) {
    return Malformed(what, std::string("<") + name + "> is not a timestamp");
  }
  return *t;
}

int Digits(std::string_view s, size_t pos, size_t len) {
  if (pos + len > s.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

std::optional<int64_t> FromCivil(int year, int month, int day, int hour,
                                 int minute, int second, int64_t nanos) {
  if (year < 1970 || year > 2200 || month < 1 || month > 12 || hour < 0 ||
      hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{
      std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
      std::chrono::day(static_cast<unsigned>(day < 0 ? 0 : day))};
  if (!ymd.ok()) return std::nullopt;
  auto t = std::chrono::sys_days(ymd) + std::chrono::hours(hour) +
           std::chrono::minutes(minute) + std::chrono::seconds(second);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             t.time_since_epoch())
             .count() +
         nanos;
}

std::string Write(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

}  // namespace

std::optional<int64_t> ParseS3Time(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
      s[13] != ':' || s[16] != ':' || s.back() != 'Z') {
    return std::nullopt;
  }
  int64_t nanos = 0;
  if (s.size() > 20) {
    if (s[19] != '.' || s.size() > 30 || s.size() == 21) return std::nullopt;
    int64_t scale = 100000000;
    for (size_t i = 20; i + 1 < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      nanos += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  return FromCivil(Digits(s, 0, 4), Digits(s, 5, 2), Digits(s, 8, 2),
                   Digits(s, 11, 2), Digits(s, 14, 2), Digits(s, 17, 2), nanos);
}

std::optional<int64_t> ParseHttpDate(std::string_view s) {
  // "Wed, 12 Oct 2009 17:50:00 GMT" (IMF-fixdate)
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
      s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
      s.substr(25) != " GMT") {
    return std::nullopt;
  }
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  return FromCivil(Digits(s, 12, 4), month, Digits(s, 5, 2), Digits(s, 17, 2),
                   Digits(s, 20, 2), Digits(s, 23, 2), 0);
}

Result<S3ListObjectsPage> ParseListObjectsV2(std::string_view xml) {
  constexpr std::string_view kWhat = "ListObjectsV2";
  pugi::xml_document doc;
  FERRY_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(&doc, xml, "ListBucketResult", kWhat));
  S3ListObjectsPage page;
  FERRY_ASSIGN_OR_RETURN(std::string encoding,
                         Text(root, "EncodingType", 16, kWhat));
  const bool url = encoding == "url";
  FERRY_ASSIGN_OR_RETURN(page.is_truncated, Bool(root, "IsTruncated", kWhat));
  FERRY_ASSIGN_OR_RETURN(
      page.next_continuation_token,
      Text(root, "NextContinuationToken", kMaxTokenBytes, kWhat));
  if (page.is_truncated && page.next_continuation_token.empty()) {
    return Malformed(kWhat, "truncated without a NextContinuationToken");
  }
  if (root.child("MaxKeys")) {
    FERRY_ASSIGN_OR_RETURN(uint64_t max_keys,
                           Number(root, "MaxKeys", kS3MaxListKeys, kWhat));
    (void)max_keys;
  }
  size_t entries = 0;
  for (pugi::xml_node node : root.children()) {
    const bool object = std::strcmp(node.name(), "Contents") == 0;
    const bool prefix = std::strcmp(node.name(), "CommonPrefixes") == 0;
    if (!object && !prefix) continue;
    if (++entries > static_cast<size_t>(kS3MaxListKeys)) {
      return Malformed(
          kWhat, "more than " + std::to_string(kS3MaxListKeys) + " entries");
    }
    if (prefix) {
      FERRY_ASSIGN_OR_RETURN(std::string p,
                             Key(node, "Prefix", url, false, kWhat));
      page.common_prefixes.push_back(std::move(p));
      continue;
    }
    S3ObjectSummary o;
    FERRY_ASSIGN_OR_RETURN(o.key, Key(node, "Key", url, false, kWhat));
    FERRY_ASSIGN_OR_RETURN(o.size,
                           Number(node, "Size", kS3MaxSizeValue, kWhat));
    FERRY_ASSIGN_OR_RETURN(o.etag, Text(node, "ETag", kMaxEtagBytes, kWhat));
    FERRY_ASSIGN_OR_RETURN(o.last_modified_ns,
                           Time(node, "LastModified", kWhat));
    FERRY_ASSIGN_OR_RETURN(o.storage_class,
                           Text(node, "StorageClass", kMaxClassBytes, kWhat));
    page.objects.push_back(std::move(o));
  }
  return page;
}

Result<S3ListUploadsPage> ParseListMultipartUploads(std::string_view xml) {
  constexpr std::string_view kWhat = "ListMultipartUploads";
  pugi::xml_document doc;
  FERRY_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(&doc, xml, "ListMultipartUploadsResult", kWhat));
  S3ListUploadsPage page;
  FERRY_ASSIGN_OR_RETURN(std::string encoding,
                         Text(root, "EncodingType", 16, kWhat));
  const bool url = encoding == "url";
  FERRY_ASSIGN_OR_RETURN(page.is_truncated, Bool(root, "IsTruncated", kWhat));
  FERRY_ASSIGN_OR_RETURN(page.next_key_marker,
                         Key(root, "NextKeyMarker", url, true, kWhat));
  FERRY_ASSIGN_OR_RETURN(
      page.next_upload_id_marker,
      Text(root, "NextUploadIdMarker", kMaxUploadIdBytes, kWhat));
  for (pugi::xml_node node : root.children("Upload")) {
    if (page.uploads.size() >= kMaxUploadsPerPage) {
      return Malformed(
          kWhat,
          "more than " + std::to_string(kMaxUploadsPerPage) + " uploads");
    }
    S3MultipartUpload u;
    FERRY_ASSIGN_OR_RETURN(u.key, Key(node, "Key", url, false, kWhat));
    FERRY_ASSIGN_OR_RETURN(u.upload_id,
                           Text(node, "UploadId", kMaxUploadIdBytes, kWhat));
    if (u.upload_id.empty()) return Malformed(kWhat, "an empty <UploadId>");
    FERRY_ASSIGN_OR_RETURN(u.initiated_ns, Time(node, "Initiated", kWhat));
    page.uploads.push_back(std::move(u));
  }
  if (page.is_truncated && page.next_key_marker.empty()) {
    return Malformed(kWhat, "truncated without a NextKeyMarker");
  }
  return page;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view xml) {
  constexpr std::string_view kWhat = "CreateMultipartUpload";
  pugi::xml_document doc;
  FERRY_ASSIGN_OR_RETURN(
      pugi::xml_node root,
      Load(&doc, xml, "InitiateMultipartUploadResult", kWhat));
  FERRY_ASSIGN_OR_RETURN(std::string id,
                         Text(root, "UploadId", kMaxUploadIdBytes, kWhat));
  if (id.empty()) return Malformed(kWhat, "no <UploadId>");
  return id;
}

Result<std::string> ParseWriteResultEtag(std::string_view xml,
                                         std::string_view root_name) {
  const std::string root_text(root_name);
  pugi::xml_document doc;
  FERRY_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(&doc, xml, root_text.c_str(), root_name));
  return Text(root, "ETag", kMaxEtagBytes, root_name);
}

Result<std::vector<S3DeleteError>> ParseDeleteResult(std::string_view xml) {
  constexpr std::string_view kWhat = "DeleteObjects";
  pugi::xml_document doc;
  FERRY_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(&doc, xml, "DeleteResult", kWhat));
  std::vector<S3DeleteError> errors;
  size_t entries = 0;
  for (pugi::xml_node node : root.children()) {
    const bool error = std::strcmp(node.name(), "Error") == 0;
    if (!error && std::strcmp(node.name(), "Deleted") != 0) continue;
    if (++entries > kS3MaxDeleteBatch) {
      return Malformed(
          kWhat, "more than " + std::to_string(kS3MaxDeleteBatch) + " entries");
    }
    if (!error) continue;
    S3DeleteError e;
    FERRY_ASSIGN_OR_RETURN(e.key, Key(node, "Key", false, false, kWhat));
    FERRY_ASSIGN_OR_RETURN(e.code, Text(node, "Code", kMaxCodeBytes, kWhat));
    FERRY_ASSIGN_OR_RETURN(e.message,
                           Text(node, "Message", kMaxMessageBytes, kWhat));
    errors.push_back(std::move(e));
  }
  return errors;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseTagging(
    std::string_view xml) {
  constexpr std::string_view kWhat = "GetObjectTagging";
  if (xml.empty()) {
    // radosgw 16 answers so for tags it was given with a multipart upload
    // or a copy.
    return Malformed(kWhat, "an empty body, not a <Tagging> document");
  }
  pugi::xml_document doc;
  FERRY_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(&doc, xml, "Tagging", kWhat));
  std::vector<std::pair<std::string, std::string>> tags;
  std::set<std::string, std::less<>> keys;
  for (pugi::xml_node tag : root.child("TagSet").children("Tag")) {
    if (tags.size() >= kS3MaxTags) {
      return Malformed(kWhat,
                       "more than " + std::to_string(kS3MaxTags) + " tags");
    }
    FERRY_ASSIGN_OR_RETURN(std::string key,
                           Text(tag, "Key", kMaxTagKeyBytes, kWhat));
    FERRY_ASSIGN_OR_RETURN(std::string value,
                           Text(tag, "Value", kMaxTagValueBytes, kWhat));
    if (key.empty()) return Malformed(kWhat, "a tag without a <Key>");
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
      return Malformed(kWhat, "a tag that is not UTF-8");
    }
    if (Utf8CodePoints(key) > kS3MaxTagKeyChars) {
      return Malformed(kWhat, "a tag key longer than " +
                                  std::to_string(kS3MaxTagKeyChars) +
                                  " characters");
    }
    if (Utf8CodePoints(value) > kS3MaxTagValueChars) {
      return Malformed(kWhat, "a tag value longer than " +
                                  std::to_string(kS3MaxTagValueChars) +
                                  " characters");
    }
    if (!keys.insert(key).second) {
      return Malformed(kWhat, "one tag key twice");
    }
    tags.emplace_back(std::move(key), std::move(value));
  }
  return tags;
}

std::optional<S3ErrorDocument> ParseS3Error(std::string_view xml) {
  if (xml.size() > kS3MaxXmlBytes) return std::nullopt;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size(), pugi::parse_default,
                       pugi::encoding_utf8)) {
    return std::nullopt;
  }
  pugi::xml_node root = doc.document_element();
  if (std::strcmp(root.name(), "Error") != 0) return std::nullopt;
  auto field = [&](const char* name, size_t max) {
    std::string text = root.child(name).text().get();
    if (text.size() > max) text = text.substr(0, max) + "...";
    return text;
  };
  S3ErrorDocument e;
  e.code = field("Code", kMaxCodeBytes);
  e.message = field("Message", kMaxMessageBytes);
  e.request_id = field("RequestId", kMaxCodeBytes);
  e.endpoint = field("Endpoint", 256);
  return e;
}

std::string CompleteMultipartUploadXml(
    const std::vector<S3CompletedPart>& parts) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  for (const S3CompletedPart& p : parts) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text().set(p.part_number);
    part.append_child("ETag").text().set(p.etag.c_str());
  }
  return Write(doc);
}

std::string DeleteObjectsXml(const std::vector<std::string>& keys) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("Quiet").text().set("true");
  for (const std::string& key : keys) {
    root.append_child("Object").append_child("Key").text().set(key.c_str());
  }
  return Write(doc);
}

std::string TaggingXml(
    const std::vector<std::pair<std::string, std::string>>& tags) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Tagging");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  pugi::xml_node set = root.append_child("TagSet");
  for (const auto& [key, value] : tags) {
    pugi::xml_node tag = set.append_child("Tag");
    tag.append_child("Key").text().set(key.c_str());
    tag.append_child("Value").text().set(value.c_str());
  }
  return Write(doc);
}

std::string CreateBucketXml(std::string_view region) {
  if (region.empty() || region == "us-east-1") return "";
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CreateBucketConfiguration");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("LocationConstraint")
      .text()
      .set(std::string(region).c_str());
  return Write(doc);
}

}  // namespace ferry
