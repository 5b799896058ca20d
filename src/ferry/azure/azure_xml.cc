#include "ferry/azure/azure_xml.h"

#include <cstring>
#include <functional>
#include <pugixml.hpp>
#include <set>

#include "ferry/base/percent.h"
#include "ferry/base/utf8.h"
#include "ferry/s3/s3_xml.h"

namespace ferry {
namespace {

constexpr size_t kMaxEtagBytes = 256;
constexpr size_t kMaxTierBytes = 32;
constexpr size_t kMaxMarkerBytes = 4096;
constexpr size_t kMaxMetadataBytes = 8 << 10;  // names and values together
constexpr size_t kMaxCodeBytes = 128;
constexpr size_t kMaxMessageBytes = 2048;
constexpr uint64_t kMaxSize = uint64_t{1} << 53;

// Whitespace-only text is kept when it is all an element holds (a value
// " " is one), so that what the encoders write reads back alike.
constexpr unsigned kParseOptions =
    pugi::parse_default | pugi::parse_ws_pcdata_single;

Status Malformed(std::string_view what, std::string_view why) {
  return Status::IoError("malformed " + std::string(what) +
                         " response: " + std::string(why));
}

std::string Bracketed(const char* name) {
  return std::string("<") + name + ">";
}

// Parses `xml`, one document of one root element.
Status Parse(pugi::xml_document* doc, std::string_view xml,
             std::string_view what) {
  if (xml.size() > kAzureMaxXmlBytes) {
    return Malformed(what, "document longer than " +
                               std::to_string(kAzureMaxXmlBytes) + " bytes");
  }
  pugi::xml_parse_result parsed = doc->load_buffer(
      xml.data(), xml.size(), kParseOptions, pugi::encoding_utf8);
  if (!parsed) {
    return Malformed(what, std::string("not XML (") + parsed.description() +
                               " at offset " + std::to_string(parsed.offset) +
                               ")");
  }
  // pugixml reads a sequence of top-level elements; XML has one.
  int roots = 0;
  for (pugi::xml_node node : doc->children()) {
    if (node.type() == pugi::node_element) ++roots;
  }
  if (roots != 1) return Malformed(what, "more than one root element");
  return Status::Ok();
}

// Parses `xml` and checks its root element's name.
Result<pugi::xml_node> Load(pugi::xml_document* doc, std::string_view xml,
                            const char* root, std::string_view what) {
  FERRY_RETURN_IF_ERROR(Parse(doc, xml, what));
  pugi::xml_node node = doc->document_element();
  if (std::strcmp(node.name(), root) != 0) {
    return Malformed(what, "root element is <" + std::string(node.name()) +
                               ">, not " + Bracketed(root));
  }
  return node;
}

// The text of `node`, at most `max` bytes.
Result<std::string> NodeText(pugi::xml_node node, const char* name, size_t max,
                             std::string_view what) {
  const char* text = node.text().get();
  size_t size = std::strlen(text);
  if (size > max) {
    return Malformed(what, Bracketed(name) + " longer than " +
                               std::to_string(max) + " bytes");
  }
  return std::string(text, size);
}

// The text of `parent`'s child `name` ("" if none), at most `max` bytes.
Result<std::string> Text(pugi::xml_node parent, const char* name, size_t max,
                         std::string_view what) {
  return NodeText(parent.child(name), name, max, what);
}

Result<uint64_t> Number(pugi::xml_node parent, const char* name, uint64_t max,
                        std::string_view what) {
  std::string_view text = parent.child(name).text().get();
  if (text.empty() || text.size() > 20) {
    return Malformed(what, Bracketed(name) + " is not a number");
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return Malformed(what, Bracketed(name) + " is not a number");
    }
    if (value > (max - static_cast<uint64_t>(c - '0')) / 10) {
      return Malformed(what,
                       Bracketed(name) + " exceeds " + std::to_string(max));
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

Result<int64_t> HttpTime(pugi::xml_node parent, const char* name,
                         std::string_view what) {
  std::optional<int64_t> t = ParseHttpDate(parent.child(name).text().get());
  if (!t) return Malformed(what, Bracketed(name) + " is not an HTTP date");
  return *t;
}

// %XX escapes only: Azure escapes '+' and ' ' too, so '+' is itself.
Result<std::string> StrictPercentDecode(std::string_view s,
                                        std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || HexValue(s[i + 1]) < 0 || HexValue(s[i + 2]) < 0) {
      return Malformed(what, "a bad %-escape in an encoded <Name>");
    }
    out.push_back(
        static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
    i += 2;
  }
  return out;
}

// A blob's or a prefix's <Name>, percent-decoded if it is
// <Name Encoded="true">: 1..kAzureMaxBlobNameBytes bytes of UTF-8.
Result<std::string> BlobName(pugi::xml_node parent, std::string_view what) {
  pugi::xml_node node = parent.child("Name");
  std::string_view encoded = node.attribute("Encoded").value();
  if (!encoded.empty() && encoded != "true" && encoded != "false") {
    return Malformed(what, "<Name Encoded> is neither true nor false");
  }
  FERRY_ASSIGN_OR_RETURN(
      std::string name,
      NodeText(node, "Name", 3 * kAzureMaxBlobNameBytes, what));
  if (encoded == "true") {
    FERRY_ASSIGN_OR_RETURN(name, StrictPercentDecode(name, what));
  }
  if (name.empty()) return Malformed(what, "an empty <Name>");
  if (name.size() > kAzureMaxBlobNameBytes) {
    return Malformed(what, "a name longer than " +
                               std::to_string(kAzureMaxBlobNameBytes) +
                               " bytes");
  }
  if (!IsValidUtf8(name)) return Malformed(what, "a name that is not UTF-8");
  return name;
}

Result<std::map<std::string, std::string>> Metadata(pugi::xml_node node,
                                                    std::string_view what) {
  std::map<std::string, std::string> metadata;
  size_t total = 0;
  const std::string too_long =
      "<Metadata> longer than " + std::to_string(kMaxMetadataBytes) + " bytes";
  for (pugi::xml_node child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string name = child.name();
    total += name.size();
    if (total > kMaxMetadataBytes) return Malformed(what, too_long);
    std::string_view value = child.text().get();
    total += value.size();
    if (total > kMaxMetadataBytes) return Malformed(what, too_long);
    if (!IsValidUtf8(name) || !IsValidUtf8(value)) {
      return Malformed(what, "metadata that is not UTF-8");
    }
    if (!metadata.emplace(std::move(name), value).second) {
      return Malformed(what, "one metadata name twice");
    }
  }
  return metadata;
}

Result<AzureBlobItem> Blob(pugi::xml_node node, std::string_view what) {
  AzureBlobItem blob;
  FERRY_ASSIGN_OR_RETURN(blob.name, BlobName(node, what));
  pugi::xml_node properties = node.child("Properties");
  FERRY_ASSIGN_OR_RETURN(blob.size,
                         Number(properties, "Content-Length", kMaxSize, what));
  FERRY_ASSIGN_OR_RETURN(blob.etag,
                         Text(properties, "Etag", kMaxEtagBytes, what));
  FERRY_ASSIGN_OR_RETURN(blob.last_modified_ns,
                         HttpTime(properties, "Last-Modified", what));
  FERRY_ASSIGN_OR_RETURN(blob.access_tier,
                         Text(properties, "AccessTier", kMaxTierBytes, what));
  FERRY_ASSIGN_OR_RETURN(blob.metadata, Metadata(node.child("Metadata"), what));
  return blob;
}

// `s` cut to at most `max` bytes, not inside a UTF-8 sequence.
std::string Cut(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  s.resize(end);
  return s;
}

void AppendEscaped(std::string* out, std::string_view text) {
  for (char ch : text) {
    switch (ch) {
      case '&':
        *out += "&amp;";
        break;
      case '<':
        *out += "&lt;";
        break;
      case '>':
        *out += "&gt;";
        break;
      case '"':
        *out += "&quot;";
        break;
      default:
        // Raw CR, LF and TAB would be normalised by the reader.
        if (static_cast<unsigned char>(ch) < 0x20) {
          *out += "&#" + std::to_string(static_cast<unsigned char>(ch)) + ";";
        } else {
          out->push_back(ch);
        }
    }
  }
}

void AppendElement(std::string* out, std::string_view name,
                   std::string_view text) {
  *out += "<";
  *out += name;
  *out += ">";
  AppendEscaped(out, text);
  *out += "</";
  *out += name;
  *out += ">";
}

constexpr std::string_view kDeclaration =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

}  // namespace

Result<AzureListPage> ParseListBlobs(std::string_view xml) {
  constexpr std::string_view kWhat = "List Blobs";
  pugi::xml_document doc;
  FERRY_ASSIGN_OR_RETURN(pugi::xml_node root,
                         Load(&doc, xml, "EnumerationResults", kWhat));
  AzureListPage page;
  FERRY_ASSIGN_OR_RETURN(page.next_marker,
                         Text(root, "NextMarker", kMaxMarkerBytes, kWhat));
  size_t entries = 0;
  for (pugi::xml_node blobs : root.children("Blobs")) {
    for (pugi::xml_node node : blobs.children()) {
      const bool blob = std::strcmp(node.name(), "Blob") == 0;
      const bool prefix = std::strcmp(node.name(), "BlobPrefix") == 0;
      if (!blob && !prefix) continue;
      if (++entries > static_cast<size_t>(kAzureMaxListResults)) {
        return Malformed(
            kWhat,
            "more than " + std::to_string(kAzureMaxListResults) + " entries");
      }
      if (prefix) {
        FERRY_ASSIGN_OR_RETURN(std::string name, BlobName(node, kWhat));
        page.prefixes.push_back(std::move(name));
      } else {
        FERRY_ASSIGN_OR_RETURN(AzureBlobItem item, Blob(node, kWhat));
        page.blobs.push_back(std::move(item));
      }
    }
  }
  return page;
}

std::optional<AzureErrorDocument> ParseAzureError(std::string_view xml) {
  pugi::xml_document doc;
  if (!Parse(&doc, xml, "error").ok()) return std::nullopt;
  pugi::xml_node root = doc.document_element();
  if (std::strcmp(root.name(), "Error") != 0) return std::nullopt;
  AzureErrorDocument e;
  e.code = Cut(root.child("Code").text().get(), kMaxCodeBytes);
  e.message = Cut(root.child("Message").text().get(), kMaxMessageBytes);
  return e;
}

std::string BlockListXml(const std::vector<std::string>& block_ids) {
  std::string out(kDeclaration);
  out += "<BlockList>";
  for (const std::string& id : block_ids) AppendElement(&out, "Latest", id);
  out += "</BlockList>";
  return out;
}

}  // namespace ferry
