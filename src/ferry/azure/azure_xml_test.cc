#include "ferry/azure/azure_xml.h"

#include <gtest/gtest.h>

#include <pugixml.hpp>
#include <string>

#include "ferry/base/utf8.h"

namespace ferry {
namespace {

// Sat, 05 Dec 2026 17:00:00 GMT.
constexpr int64_t kDec5 = 1796490000000000000;

// The answer of Azurite 3.35 to a List Blobs with delimiter=/ and
// include=metadata (whitespace as the brief shows it; no newline at the end).
const std::string kSample =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<EnumerationResults "
    "ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" "
    "ContainerName=\"c\">\n"
    "  <Prefix>dir/</Prefix><Marker/><MaxResults>5000</MaxResults>"
    "<Delimiter>/</Delimiter>\n"
    "  <Blobs>\n"
    "    <Blob><Name>dir/a.txt</Name>\n"
    "      <Properties><Creation-Time>Sat, 05 Dec 2026 17:00:00 GMT"
    "</Creation-Time><Last-Modified>Sat, 05 Dec 2026 17:00:00 GMT"
    "</Last-Modified><Etag>0x8DCF5A1B2C3D4E5</Etag><Content-Length>12"
    "</Content-Length><Content-Type>application/octet-stream</Content-Type>"
    "<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>"
    "<AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked"
    "</LeaseStatus><LeaseState>available</LeaseState></Properties>\n"
    "      <Metadata><file_mtime>123ns</file_mtime></Metadata>\n"
    "    </Blob>\n"
    "    <BlobPrefix><Name>dir/sub/</Name></BlobPrefix>\n"
    "  </Blobs>\n"
    "  <NextMarker/>\n"
    "</EnumerationResults>";

std::string List(const std::string& entries, const std::string& tail = "") {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults "
         "ServiceEndpoint=\"https://a.blob.core.windows.net/\" "
         "ContainerName=\"c\"><Blobs>" +
         entries + "</Blobs>" + tail + "</EnumerationResults>";
}

struct BlobSpec {
  std::string name = "k";
  std::string name_attrs;
  std::string size = "5";
  std::string date = "Sat, 05 Dec 2026 17:00:00 GMT";
  std::string etag = "0x8D";
  std::string tier;
  std::string metadata;  // <Metadata>'s children, if any
};

std::string Blob(const BlobSpec& b) {
  std::string xml = "<Blob><Name" + b.name_attrs + ">" + b.name +
                    "</Name><Properties><Last-Modified>" + b.date +
                    "</Last-Modified><Etag>" + b.etag +
                    "</Etag><Content-Length>" + b.size + "</Content-Length>";
  if (!b.tier.empty()) xml += "<AccessTier>" + b.tier + "</AccessTier>";
  xml += "</Properties>";
  if (!b.metadata.empty()) xml += "<Metadata>" + b.metadata + "</Metadata>";
  return xml + "</Blob>";
}

std::string Prefix(const std::string& name, const std::string& attrs = "") {
  return "<BlobPrefix><Name" + attrs + ">" + name + "</Name></BlobPrefix>";
}

// "ok", or the error's message.
template <typename T>
std::string Error(const Result<T>& r) {
  return r.ok() ? std::string("ok") : std::string(r.status().message());
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(AzureXmlTest, ListBlobsSample) {
  auto page = ParseListBlobs(kSample);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->blobs.size(), 1u);
  const AzureBlobItem& b = page->blobs[0];
  EXPECT_EQ(b.name, "dir/a.txt");
  EXPECT_EQ(b.size, 12u);
  EXPECT_EQ(b.etag, "0x8DCF5A1B2C3D4E5");
  EXPECT_EQ(b.last_modified_ns, kDec5);
  EXPECT_EQ(b.access_tier, "Hot");
  EXPECT_EQ(b.metadata,
            (std::map<std::string, std::string>{{"file_mtime", "123ns"}}));
  EXPECT_EQ(page->prefixes, std::vector<std::string>{"dir/sub/"});
  EXPECT_EQ(page->next_marker, "");

  // Every truncation of it is a clean error.
  for (size_t n = 0; n < kSample.size(); ++n) {
    EXPECT_FALSE(ParseListBlobs(kSample.substr(0, n)).ok()) << n;
  }
  // Azure itself starts its bodies with a byte order mark.
  EXPECT_TRUE(ParseListBlobs("\xEF\xBB\xBF" + kSample).ok());
}

TEST(AzureXmlTest, ListBlobsVariations) {
  BlobSpec quoted;
  quoted.name = "a&amp;b &lt;c&gt; \xE2\x82\xAC";
  quoted.etag = "&quot;0x8D&quot;";
  quoted.size = "0";
  quoted.tier = "Archive";
  quoted.metadata = "<A>1</A><b></b><c> x </c>";
  BlobSpec encoded;
  // Names with characters XML cannot carry come percent-encoded; '+' is
  // itself.
  encoded.name = "x%01y+z%20%E2%82%ac%2525";
  encoded.name_attrs = " Encoded=\"true\"";
  encoded.size = "9007199254740992";  // 2^53
  BlobSpec not_encoded;
  not_encoded.name = "p%41";
  not_encoded.name_attrs = " Encoded=\"false\"";
  auto page = ParseListBlobs(
      List(Blob(quoted) + Prefix("d%01/", " Encoded=\"true\"") + Blob(encoded) +
               Prefix("e/") + Blob(not_encoded),
           "<NextMarker>2!96!MDAwMDE3IWRpci9zdWIvYi50eHQh</NextMarker>"));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->blobs.size(), 3u);
  EXPECT_EQ(page->blobs[0].name, "a&b <c> \xE2\x82\xAC");
  EXPECT_EQ(page->blobs[0].etag, "\"0x8D\"");  // quotes kept
  EXPECT_EQ(page->blobs[0].size, 0u);
  EXPECT_EQ(page->blobs[0].access_tier, "Archive");
  EXPECT_EQ(page->blobs[0].metadata, (std::map<std::string, std::string>{
                                         {"A", "1"}, {"b", ""}, {"c", " x "}}));
  EXPECT_EQ(page->blobs[1].name, "x\x01y+z \xE2\x82\xAC%25");
  EXPECT_EQ(page->blobs[1].size, uint64_t{1} << 53);
  EXPECT_EQ(page->blobs[1].access_tier, "");
  EXPECT_TRUE(page->blobs[1].metadata.empty());
  EXPECT_EQ(page->blobs[2].name, "p%41");
  EXPECT_EQ(page->prefixes, (std::vector<std::string>{"d\x01/", "e/"}));
  EXPECT_EQ(page->next_marker, "2!96!MDAwMDE3IWRpci9zdWIvYi50eHQh");

  // An empty container, with and without <Blobs>.
  page = ParseListBlobs(List("", "<NextMarker/>"));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->blobs.empty() && page->prefixes.empty());
  page = ParseListBlobs("<EnumerationResults/>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->blobs.empty());

  // The limits themselves are within them.
  std::string many;
  for (int i = 0; i < kAzureMaxListResults / 2; ++i) {
    BlobSpec b;
    b.name = "k" + std::to_string(i);
    many += Blob(b) + Prefix("p" + std::to_string(i) + "/");
  }
  page = ParseListBlobs(List(many));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->blobs.size() + page->prefixes.size(),
            static_cast<size_t>(kAzureMaxListResults));
  BlobSpec longest;
  longest.name = std::string(kAzureMaxBlobNameBytes, 'n');
  longest.etag = std::string(256, 'e');
  longest.tier = std::string(32, 't');
  // 8 KiB of metadata in all, names and values.
  longest.metadata = "<m>" + std::string(8192 - 1, 'v') + "</m>";
  page = ParseListBlobs(List(Blob(longest)));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->blobs[0].metadata.at("m").size(), 8191u);
  // An encoded name is measured once decoded.
  BlobSpec escaped;
  escaped.name_attrs = " Encoded=\"true\"";
  escaped.name.clear();
  for (size_t i = 0; i < kAzureMaxBlobNameBytes; ++i) escaped.name += "%41";
  page = ParseListBlobs(List(Blob(escaped)));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->blobs[0].name, std::string(kAzureMaxBlobNameBytes, 'A'));
  page = ParseListBlobs(
      List("", "<NextMarker>" + std::string(4096, 'm') + "</NextMarker>"));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
}

TEST(AzureXmlTest, ListBlobsRefusesHostileDocuments) {
  auto blob_error = [](void (*change)(BlobSpec*)) {
    BlobSpec b;
    change(&b);
    return Error(ParseListBlobs(List(Blob(b))));
  };
  EXPECT_TRUE(Contains(Error(ParseListBlobs("not xml")),
                       "malformed List Blobs response: not XML"));
  EXPECT_TRUE(Contains(Error(ParseListBlobs("")), "not XML"));
  EXPECT_TRUE(Contains(
      Error(ParseListBlobs("<Error><Code>AuthorizationFailure</Code></Error>")),
      "root element is <Error>, not <EnumerationResults>"));
  EXPECT_TRUE(Contains(Error(ParseListBlobs(List("") + List(""))),
                       "more than one root element"));
  EXPECT_TRUE(
      Contains(Error(ParseListBlobs(List(std::string(kAzureMaxXmlBytes, ' ')))),
               "document longer than 8388608 bytes"));

  // Too many entries, blobs and prefixes counted together.
  std::string many;
  for (int i = 0; i < kAzureMaxListResults; ++i) {
    many += Prefix("p" + std::to_string(i) + "/");
  }
  EXPECT_EQ(Error(ParseListBlobs(List(many))), "ok");
  EXPECT_TRUE(Contains(Error(ParseListBlobs(List(many + Blob({})))),
                       "more than 5000 entries"));
  // Spread over two <Blobs>.
  EXPECT_TRUE(Contains(
      Error(ParseListBlobs(List(many, "<Blobs>" + Prefix("x/") + "</Blobs>"))),
      "more than 5000 entries"));

  // Names.
  EXPECT_TRUE(Contains(
      blob_error([](BlobSpec* b) { b->name = std::string(1025, 'n'); }),
      "a name longer than 1024 bytes"));
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) {
                         b->name_attrs = " Encoded=\"true\"";
                         b->name = std::string(1024, 'n') + "%41";
                       }),
                       "a name longer than 1024 bytes"));
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) { b->name = ""; }),
                       "an empty <Name>"));
  EXPECT_TRUE(Contains(
      Error(ParseListBlobs(List("<Blob><Properties><Content-Length>1"
                                "</Content-Length></Properties></Blob>"))),
      "an empty <Name>"));
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) { b->name = "a\xFF"; }),
                       "a name that is not UTF-8"));
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) { b->name = "&#xD800;"; }),
                       "a name that is not UTF-8"));
  for (const char* bad : {"%", "a%4", "%zz", "%4g", "%%41"}) {
    BlobSpec b;
    b.name_attrs = " Encoded=\"true\"";
    b.name = bad;
    EXPECT_TRUE(Contains(Error(ParseListBlobs(List(Blob(b)))),
                         "a bad %-escape in an encoded <Name>"))
        << bad;
  }
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) {
                         b->name_attrs = " Encoded=\"true\"";
                         b->name = "%C3%28";
                       }),
                       "a name that is not UTF-8"));
  EXPECT_TRUE(Contains(
      blob_error([](BlobSpec* b) { b->name_attrs = " Encoded=\"yes\""; }),
      "<Name Encoded> is neither true nor false"));
  EXPECT_TRUE(
      Contains(Error(ParseListBlobs(List(Prefix(std::string(1025, 'p'))))),
               "a name longer than 1024 bytes"));
  EXPECT_TRUE(
      Contains(Error(ParseListBlobs(List(Prefix("")))), "an empty <Name>"));
  EXPECT_TRUE(
      Contains(Error(ParseListBlobs(List(Prefix("%G0", " Encoded=\"true\"")))),
               "bad %-escape"));

  // Sizes.
  for (const char* bad : {"", "abc", "-1", "+1", " 1", "1.5", "0x10"}) {
    BlobSpec b;
    b.size = bad;
    EXPECT_TRUE(Contains(Error(ParseListBlobs(List(Blob(b)))),
                         "<Content-Length> is not a number"))
        << bad;
  }
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) {
                         b->size = "9007199254740993";  // 2^53 + 1
                       }),
                       "<Content-Length> exceeds 9007199254740992"));
  EXPECT_TRUE(Contains(
      blob_error([](BlobSpec* b) { b->size = "18446744073709551616"; }),
      "<Content-Length> exceeds"));
  EXPECT_TRUE(Contains(
      blob_error([](BlobSpec* b) { b->size = "999999999999999999999999"; }),
      "<Content-Length> is not a number"));
  EXPECT_TRUE(
      Contains(Error(ParseListBlobs(List("<Blob><Name>k</Name></Blob>"))),
               "<Content-Length> is not a number"));

  // Dates.
  for (const char* bad :
       {"", "2026-12-05T17:00:00Z", "Sat, 05 Dec 2026 17:00:00 UTC",
        "Sat, 30 Feb 2026 17:00:00 GMT", "Sat, 05 Foo 2026 17:00:00 GMT",
        "Sat, 05 Dec 2026 25:00:00 GMT", "Sat,  5 Dec 2026 17:00:00 GMT"}) {
    BlobSpec b;
    b.date = bad;
    EXPECT_TRUE(Contains(Error(ParseListBlobs(List(Blob(b)))),
                         "<Last-Modified> is not an HTTP date"))
        << bad;
  }

  // Other properties and metadata.
  EXPECT_TRUE(
      Contains(blob_error([](BlobSpec* b) { b->etag = std::string(257, 'e'); }),
               "<Etag> longer than 256 bytes"));
  EXPECT_TRUE(
      Contains(blob_error([](BlobSpec* b) { b->tier = std::string(33, 't'); }),
               "<AccessTier> longer than 32 bytes"));
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) {
                         b->metadata = "<m>" + std::string(8192, 'v') + "</m>";
                       }),
                       "<Metadata> longer than 8192 bytes"));
  EXPECT_TRUE(Contains(blob_error([](BlobSpec* b) {
                         for (int i = 0; i < 3000; ++i) {
                           b->metadata += "<m" + std::to_string(i) + "/>";
                         }
                       }),
                       "<Metadata> longer than 8192 bytes"));
  EXPECT_TRUE(Contains(
      blob_error([](BlobSpec* b) { b->metadata = "<a>1</a><a>2</a>"; }),
      "one metadata name twice"));
  EXPECT_TRUE(
      Contains(blob_error([](BlobSpec* b) { b->metadata = "<a>\xC0\xAF</a>"; }),
               "metadata that is not UTF-8"));
  EXPECT_TRUE(Contains(
      Error(ParseListBlobs(
          List("", "<NextMarker>" + std::string(4097, 'm') + "</NextMarker>"))),
      "<NextMarker> longer than 4096 bytes"));

  // Entities beyond XML's own are not expanded.
  auto page = ParseListBlobs("<!DOCTYPE x [<!ENTITY a \"aaaa\">]>" +
                             List(Prefix("&a;")));
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->prefixes[0], "&a;");
}

TEST(AzureXmlTest, Errors) {
  auto e = ParseAzureError(
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>"
      "BlobNotFound</Code><Message>The specified blob does not exist.\n"
      "RequestId:9a1e7b8c-e01e-0041-3c2a-4b5d9c000000\n"
      "Time:2026-12-05T17:00:00.0000000Z</Message></Error>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "BlobNotFound");
  EXPECT_EQ(e->message,
            "The specified blob does not exist.\n"
            "RequestId:9a1e7b8c-e01e-0041-3c2a-4b5d9c000000\n"
            "Time:2026-12-05T17:00:00.0000000Z");
  e = ParseAzureError("<Error/>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "");
  EXPECT_FALSE(ParseAzureError(""));
  EXPECT_FALSE(ParseAzureError("<html>502 Bad Gateway</html>"));
  EXPECT_FALSE(ParseAzureError("Bad Gateway"));
  EXPECT_FALSE(ParseAzureError("<Error><Code>A</Code></Error><Error/>"));
  EXPECT_FALSE(ParseAzureError(kSample));

  e = ParseAzureError("<Error><Code>" + std::string(1000, 'c') +
                      "</Code><Message>" + std::string(100000, 'm') +
                      "</Message></Error>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, std::string(128, 'c'));
  EXPECT_EQ(e->message, std::string(2048, 'm'));
  // Cut between characters: 682 three-byte characters are 2046 bytes.
  std::string euros;
  for (int i = 0; i < 1000; ++i) euros += "\xE2\x82\xAC";
  e = ParseAzureError("<Error><Message>" + euros + "</Message></Error>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, euros.substr(0, 2046));
  EXPECT_TRUE(IsValidUtf8(e->message));
}

TEST(AzureXmlTest, Encoders) {
  EXPECT_EQ(BlockListXml({"AAAA", "AAAB"}),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
            "<Latest>AAAA</Latest><Latest>AAAB</Latest></BlockList>");
  EXPECT_EQ(BlockListXml({}),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
            "</BlockList>");
  const std::vector<std::string> ids = {"a&b", "<c>", "\"d\"", "e/+="};
  const std::string block_list = BlockListXml(ids);
  EXPECT_TRUE(Contains(block_list,
                       "<Latest>a&amp;b</Latest><Latest>&lt;c&gt;</Latest>"
                       "<Latest>&quot;d&quot;</Latest><Latest>e/+=</Latest>"));
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(block_list.c_str()));
  std::vector<std::string> read;
  for (pugi::xml_node n : doc.child("BlockList").children("Latest")) {
    read.push_back(n.text().get());
  }
  EXPECT_EQ(read, ids);
}

}  // namespace
}  // namespace ferry
