#include "ferry/link/operations.h"

#include <bit>
#include <limits>
#include <type_traits>

namespace ferry::link {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr uint8_t kPolicyBits = 7;

std::string Num(uint64_t v) { return std::to_string(v); }

// The operations' fields are described once, by templates over an "IO":
// Encoder writes a value, Decoder reads one into it. Both have the same
// methods, Encoder's taking const references, so one description serves
// both directions and they cannot disagree.

class Encoder {
 public:
  explicit Encoder(WireWriter& w) : w_(w) {}

  template <typename T>
  Status Uint(std::string_view field, const T& v, uint64_t lo, uint64_t hi) {
    if constexpr (std::is_signed_v<T>) {
      if (v < 0) return Refuse(field, std::to_string(v) + " is negative");
    }
    const auto u = static_cast<uint64_t>(v);
    if (u < lo || u > hi) {
      return Refuse(field, Num(u) + " not in " + Num(lo) + ".." + Num(hi));
    }
    w_.WriteVarint(u);
    return Status::Ok();
  }
  Status Int(std::string_view field, const int64_t& v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
      return Refuse(field, std::to_string(v) + " not in " + std::to_string(lo) +
                               ".." + std::to_string(hi));
    }
    w_.WriteZigzag(v);
    return Status::Ok();
  }
  template <typename E>
  Status Enum(std::string_view field, const E& e, uint8_t count) {
    const auto v = static_cast<uint8_t>(e);
    if (v >= count) return Refuse(field, Num(v) + " unknown");
    w_.WriteU8(v);
    return Status::Ok();
  }
  Status Bool(std::string_view, const bool& b) {
    w_.WriteU8(b ? 1 : 0);
    return Status::Ok();
  }
  Status Path(std::string_view field, const RelPath& p) {
    w_.WritePath(field, p);
    return Status::Ok();
  }
  Status Bytes(std::string_view field, const std::string& s, size_t max) {
    w_.WriteBytes(field, s, max);
    return Status::Ok();
  }
  Status Data(std::string_view field, const std::vector<std::byte>& d,
              size_t max) {
    w_.WriteBytes(
        field,
        std::string_view(reinterpret_cast<const char*>(d.data()), d.size()),
        max);
    return Status::Ok();
  }
  Status EntryValue(const Entry& e) {
    WriteEntry(w_, e);
    return Status::Ok();
  }
  Status Required(std::string_view field, const std::optional<Entry>& e) {
    if (!e) return Refuse(field, "missing");
    return EntryValue(*e);
  }
  Status Xattrs(const XattrList& x) {
    WriteXattrs(w_, x);
    return Status::Ok();
  }
  Status StatusValue(const Status& s) {
    WriteStatus(w_, s);
    return Status::Ok();
  }
  Status DigestValue(const Digest& d) {
    WriteDigest(w_, d);
    return Status::Ok();
  }
  Status Signatures(const SignatureList& s) {
    WriteSignatures(w_, s);
    return Status::Ok();
  }
  Status Policy(const MetadataPolicy& p) {
    const bool bits[kPolicyBits] = {
        p.mode, p.uid, p.gid, p.mtime, p.atime, p.link_times, p.dos_attributes};
    uint8_t v = 0;
    for (uint8_t i = 0; i < kPolicyBits; ++i) v |= bits[i] ? 1 << i : 0;
    w_.WriteU8(v);
    return Status::Ok();
  }
  Status Tags(const ObjectTags& tags) {
    if (tags.size() > kMaxTagCount) {
      return Refuse("tag count",
                    Num(tags.size()) + " above " + Num(kMaxTagCount));
    }
    w_.WriteVarint(tags.size());
    for (const auto& [key, value] : tags) {
      w_.WriteBytes("tag key", key, kMaxTagKeyBytes);
      w_.WriteBytes("tag value", value, kMaxTagValueBytes);
    }
    return Status::Ok();
  }
  template <typename V, typename F>
  Status List(std::string_view field, const V& v, size_t max, F&& each) {
    if (v.size() > max) {
      return Refuse(field, Num(v.size()) + " items, above " + Num(max));
    }
    w_.WriteVarint(v.size());
    for (const auto& item : v) FERRY_RETURN_IF_ERROR(each(item));
    return Status::Ok();
  }
  template <typename T, typename F>
  Status Optional(std::string_view, const std::optional<T>& o, F&& each) {
    w_.WriteU8(o ? 1 : 0);
    return o ? each(*o) : Status::Ok();
  }
  // A condition over several fields.
  Status Check(bool ok, std::string_view field, const std::string& problem) {
    return ok ? Status::Ok() : Refuse(field, problem);
  }

 private:
  Status Refuse(std::string_view field, const std::string& problem) {
    w_.Refuse(std::string(field) + ": " + problem);
    return w_.status();
  }
  WireWriter& w_;
};

class Decoder {
 public:
  explicit Decoder(WireReader& r) : r_(r) {}

  template <typename T>
  Status Uint(std::string_view field, T& v, uint64_t lo, uint64_t hi) {
    FERRY_ASSIGN_OR_RETURN(uint64_t u, r_.ReadVarintIn(field, lo, hi));
    v = static_cast<T>(u);
    return Status::Ok();
  }
  Status Int(std::string_view field, int64_t& v, int64_t lo, int64_t hi) {
    FERRY_ASSIGN_OR_RETURN(v, r_.ReadZigzag(field));
    if (v < lo || v > hi) {
      return r_.Error(field, std::to_string(v) + " not in " +
                                 std::to_string(lo) + ".." +
                                 std::to_string(hi));
    }
    return Status::Ok();
  }
  template <typename E>
  Status Enum(std::string_view field, E& e, uint8_t count) {
    FERRY_ASSIGN_OR_RETURN(uint8_t v, r_.ReadU8(field));
    if (v >= count) return r_.Error(field, Num(v) + " unknown");
    e = static_cast<E>(v);
    return Status::Ok();
  }
  Status Bool(std::string_view field, bool& b) {
    FERRY_ASSIGN_OR_RETURN(uint8_t v, r_.ReadU8(field));
    if (v > 1) return r_.Error(field, Num(v) + " is neither 0 nor 1");
    b = v == 1;
    return Status::Ok();
  }
  Status Path(std::string_view field, RelPath& p) {
    FERRY_ASSIGN_OR_RETURN(p, r_.ReadPath(field));
    return Status::Ok();
  }
  Status Bytes(std::string_view field, std::string& s, size_t max) {
    FERRY_ASSIGN_OR_RETURN(std::string_view v, r_.ReadBytes(field, max));
    s = std::string(v);
    return Status::Ok();
  }
  Status Data(std::string_view field, std::vector<std::byte>& d, size_t max) {
    FERRY_ASSIGN_OR_RETURN(std::string_view v, r_.ReadBytes(field, max));
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    d.assign(p, p + v.size());
    return Status::Ok();
  }
  Status EntryValue(Entry& e) {
    FERRY_ASSIGN_OR_RETURN(e, ReadEntry(r_));
    return Status::Ok();
  }
  Status Required(std::string_view, std::optional<Entry>& e) {
    return EntryValue(e.emplace());
  }
  Status Xattrs(XattrList& x) {
    FERRY_ASSIGN_OR_RETURN(x, ReadXattrs(r_));
    return Status::Ok();
  }
  Status StatusValue(Status& s) { return ReadStatus(r_, &s); }
  Status DigestValue(Digest& d) {
    FERRY_ASSIGN_OR_RETURN(d, ReadDigest(r_));
    return Status::Ok();
  }
  Status Signatures(SignatureList& s) {
    FERRY_ASSIGN_OR_RETURN(s, ReadSignatures(r_));
    return Status::Ok();
  }
  Status Policy(MetadataPolicy& p) {
    FERRY_ASSIGN_OR_RETURN(uint8_t v, r_.ReadU8("metadata policy"));
    if (v >> kPolicyBits) {
      return r_.Error("metadata policy", "unknown bits in " + Num(v));
    }
    bool* bits[kPolicyBits] = {&p.mode,          &p.uid,   &p.gid,
                               &p.mtime,         &p.atime, &p.link_times,
                               &p.dos_attributes};
    for (uint8_t i = 0; i < kPolicyBits; ++i) *bits[i] = (v >> i) & 1;
    return Status::Ok();
  }
  Status Tags(ObjectTags& tags) {
    FERRY_ASSIGN_OR_RETURN(uint64_t n,
                           r_.ReadVarintIn("tag count", 0, kMaxTagCount));
    tags.clear();
    for (uint64_t i = 0; i < n; ++i) {
      FERRY_ASSIGN_OR_RETURN(std::string_view key,
                             r_.ReadBytes("tag key", kMaxTagKeyBytes));
      FERRY_ASSIGN_OR_RETURN(std::string_view value,
                             r_.ReadBytes("tag value", kMaxTagValueBytes));
      // In increasing order, each once: the map's own order.
      if (!tags.empty() && !(tags.rbegin()->first < key)) {
        return r_.Error("tag key", "out of order or repeated");
      }
      tags.emplace_hint(tags.end(), std::string(key), std::string(value));
    }
    return Status::Ok();
  }
  template <typename V, typename F>
  Status List(std::string_view field, V& v, size_t max, F&& each) {
    FERRY_ASSIGN_OR_RETURN(uint64_t n, r_.ReadVarintIn(field, 0, max));
    // Every item takes at least a byte: a count the payload cannot hold is
    // refused before anything is allocated for it.
    if (n > r_.remaining()) {
      return r_.Error(field,
                      Num(n) + " items in " + Num(r_.remaining()) + " bytes");
    }
    v.clear();
    v.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      v.emplace_back();
      FERRY_RETURN_IF_ERROR(each(v.back()));
    }
    return Status::Ok();
  }
  template <typename T, typename F>
  Status Optional(std::string_view field, std::optional<T>& o, F&& each) {
    bool present = false;
    FERRY_RETURN_IF_ERROR(Bool(field, present));
    if (!present) {
      o.reset();
      return Status::Ok();
    }
    return each(o.emplace());
  }
  Status Check(bool ok, std::string_view field, const std::string& problem) {
    return ok ? Status::Ok() : r_.Error(field, problem);
  }

 private:
  WireReader& r_;
};

template <typename IO, typename H>
Status HintsFields(IO& io, H& h) {
  FERRY_RETURN_IF_ERROR(io.Uint("size", h.size, 0, kU64Max));
  FERRY_RETURN_IF_ERROR(io.Bool("sparse", h.sparse));
  FERRY_RETURN_IF_ERROR(io.Bool("fsync", h.fsync));
  FERRY_RETURN_IF_ERROR(io.Bool("may exist", h.may_exist));
  return io.Optional("mode", h.mode,
                     [&](auto& m) { return io.Uint("mode", m, 0, 07777); });
}

template <typename IO, typename C>
Status CapabilitiesFields(IO& io, C& c) {
  // Every field of Capabilities but delta, in the order of backend.h.
  for (auto [field, value] : {
           std::pair{"symlinks", &c.symlinks},
           std::pair{"symlink times", &c.symlink_times},
           std::pair{"hard links", &c.hard_links},
           std::pair{"special files", &c.special_files},
           std::pair{"devices", &c.devices},
           std::pair{"posix mode", &c.posix_mode},
           std::pair{"posix owner", &c.posix_owner},
           std::pair{"atime", &c.atime},
       }) {
    FERRY_RETURN_IF_ERROR(io.Bool(field, *value));
  }
  FERRY_RETURN_IF_ERROR(io.Uint("mtime granularity", c.mtime_granularity_ns, 1,
                                kMaxGranularityNs));
  FERRY_RETURN_IF_ERROR(io.Bool("sparse files", c.sparse_files));
  FERRY_RETURN_IF_ERROR(io.Bool("xattrs", c.xattrs));
  FERRY_RETURN_IF_ERROR(io.Bool("acls", c.acls));
  FERRY_RETURN_IF_ERROR(io.Enum("acl model", c.acl_model, 2));
  for (auto [field, value] : {
           std::pair{"dos attributes", &c.dos_attributes},
           std::pair{"sorted listing", &c.sorted_listing},
           std::pair{"change time", &c.change_time},
           std::pair{"settable mtime", &c.settable_mtime},
           std::pair{"implied directories", &c.implied_directories},
           std::pair{"content digests", &c.content_digests},
           std::pair{"utf8 names only", &c.utf8_names_only},
           std::pair{"windows names", &c.windows_names},
           std::pair{"azure names", &c.azure_names},
           std::pair{"replace while open", &c.replace_while_open},
       }) {
    FERRY_RETURN_IF_ERROR(io.Bool(field, *value));
  }
  FERRY_RETURN_IF_ERROR(io.Int("caller uid", c.caller_uid, -1, kU32Max));
  FERRY_RETURN_IF_ERROR(
      io.Uint("part size min", c.part_size_min, 0, kMaxPartBytes));
  FERRY_RETURN_IF_ERROR(
      io.Uint("part size max", c.part_size_max, 0, kMaxPartBytes));
  FERRY_RETURN_IF_ERROR(io.Uint("max parts", c.max_parts, 0, kMaxParts));
  FERRY_RETURN_IF_ERROR(
      io.Uint("part size preferred", c.part_size_preferred, 0, kMaxPartBytes));
  FERRY_RETURN_IF_ERROR(io.Uint("read size preferred", c.read_size_preferred, 0,
                                kMaxPreferredReadBytes));
  FERRY_RETURN_IF_ERROR(
      io.Uint("io concurrency", c.io_concurrency, 0, kMaxIoConcurrency));
  return io.Bool("object tags", c.object_tags);
}

template <typename IO>
Status Handle(IO& io, auto& handle) {
  return io.Uint("handle", handle, 0, kU32Max);
}

template <typename IO, typename Q>
Status CleanupFields(IO& io, Q& q) {
  FERRY_RETURN_IF_ERROR(io.Int("now", q.now_ns, kI64Min, kI64Max));
  return io.Uint("max age", q.max_age_s, 0, kMaxCleanupAgeSeconds);
}

// What follows the operation in a REQUEST of q.op.
template <typename IO, typename Q>
Status RequestFields(IO& io, Q& q) {
  switch (q.op) {
    case Op::kCapabilities:
    case Op::kDescribe:
    case Op::kClockOffset:
    case Op::kSync:
      return Status::Ok();
    case Op::kStat:
    case Op::kListOpen:
    case Op::kMakeDirectory:
    case Op::kGetXattrs:
    case Op::kGetTags:
    case Op::kRemove:
    case Op::kRemoveTree:
    case Op::kOpenRead:
      return io.Path("path", q.path);
    case Op::kListNext:
    case Op::kListClose:
    case Op::kAbort:
    case Op::kReadRestat:
    case Op::kReadXattrs:
    case Op::kReadTags:
    case Op::kCloseRead:
      return Handle(io, q.handle);
    case Op::kOpenWrite:
      FERRY_RETURN_IF_ERROR(io.Path("path", q.path));
      return HintsFields(io, q.hints);
    case Op::kWriterSetXattrs:
      FERRY_RETURN_IF_ERROR(Handle(io, q.handle));
      FERRY_RETURN_IF_ERROR(io.Xattrs(q.xattrs));
      FERRY_RETURN_IF_ERROR(io.Bool("xattr scope", q.xattr_scope));
      return io.Bool("acl scope", q.acl_scope);
    case Op::kWriterSetTags:
      FERRY_RETURN_IF_ERROR(Handle(io, q.handle));
      return io.Tags(q.tags);
    case Op::kCommit:
      FERRY_RETURN_IF_ERROR(Handle(io, q.handle));
      FERRY_RETURN_IF_ERROR(io.EntryValue(q.entry));
      return io.Policy(q.policy);
    case Op::kCreateSymlink:
    case Op::kCreateSpecial:
    case Op::kSetMetadata:
      FERRY_RETURN_IF_ERROR(io.Path("path", q.path));
      FERRY_RETURN_IF_ERROR(io.EntryValue(q.entry));
      return io.Policy(q.policy);
    case Op::kCreateHardLink:
      FERRY_RETURN_IF_ERROR(io.Path("existing path", q.path));
      return io.Path("link path", q.other_path);
    case Op::kSetXattrs:
      FERRY_RETURN_IF_ERROR(io.Path("path", q.path));
      FERRY_RETURN_IF_ERROR(io.Xattrs(q.xattrs));
      FERRY_RETURN_IF_ERROR(io.Bool("xattr scope", q.xattr_scope));
      return io.Bool("acl scope", q.acl_scope);
    case Op::kSetTags:
      FERRY_RETURN_IF_ERROR(io.Path("path", q.path));
      return io.Tags(q.tags);
    case Op::kRemoveFiles:
      return io.List("path count", q.paths, kMaxRemoveBatch,
                     [&](auto& p) { return io.Path("path", p); });
    case Op::kCleanupStaging:
      return CleanupFields(io, q);
    case Op::kCleanupStagingEntry:
      FERRY_RETURN_IF_ERROR(io.EntryValue(q.entry));
      return CleanupFields(io, q);
    case Op::kComputeDigest:
      FERRY_RETURN_IF_ERROR(io.Path("path", q.path));
      return io.Enum("algorithm", q.algorithm, 2);
    case Op::kRead:
      FERRY_RETURN_IF_ERROR(Handle(io, q.handle));
      FERRY_RETURN_IF_ERROR(io.Uint("offset", q.offset, 0, kU64Max));
      FERRY_RETURN_IF_ERROR(io.Uint("length", q.length, 1, kMaxReadBytes));
      return io.Check(q.offset <= kU64Max - q.length, "offset",
                      "the range ends beyond 2^64");
    case Op::kReadNextData:
      FERRY_RETURN_IF_ERROR(Handle(io, q.handle));
      return io.Uint("offset", q.offset, 0, kU64Max);
    case Op::kSignatures:
      FERRY_RETURN_IF_ERROR(io.Path("path", q.path));
      FERRY_RETURN_IF_ERROR(io.Uint("block size", q.block_size,
                                    kMinSignatureBlockSize,
                                    kMaxSignatureBlockSize));
      FERRY_RETURN_IF_ERROR(
          io.Check(std::has_single_bit(q.block_size), "block size",
                   Num(q.block_size) + " is no power of two"));
      FERRY_RETURN_IF_ERROR(
          io.Uint("first block", q.first_block, 0, kU64Max / q.block_size));
      return io.Uint("max count", q.max_count, 1, kMaxSignatureCount);
    case Op::kPutFile:
      FERRY_RETURN_IF_ERROR(io.Path("path", q.path));
      FERRY_RETURN_IF_ERROR(HintsFields(io, q.hints));
      FERRY_RETURN_IF_ERROR(io.EntryValue(q.entry));
      FERRY_RETURN_IF_ERROR(io.Policy(q.policy));
      FERRY_RETURN_IF_ERROR(io.Uint("length", q.length, 0, kMaxPutFileBytes));
      FERRY_RETURN_IF_ERROR(
          io.Uint("checksum high", q.checksum.high, 0, kU64Max));
      FERRY_RETURN_IF_ERROR(
          io.Uint("checksum low", q.checksum.low, 0, kU64Max));
      FERRY_RETURN_IF_ERROR(io.Enum("encoding", q.encoding, 2));
      FERRY_RETURN_IF_ERROR(io.Data("data", q.data, kMaxPutFileBytes));
      FERRY_RETURN_IF_ERROR(io.Bool("with xattrs", q.with_xattrs));
      if (q.with_xattrs) {
        FERRY_RETURN_IF_ERROR(io.Xattrs(q.xattrs));
        FERRY_RETURN_IF_ERROR(io.Bool("xattr scope", q.xattr_scope));
        FERRY_RETURN_IF_ERROR(io.Bool("acl scope", q.acl_scope));
      }
      FERRY_RETURN_IF_ERROR(io.Bool("with tags", q.with_tags));
      if (q.with_tags) FERRY_RETURN_IF_ERROR(io.Tags(q.tags));
      if (q.encoding == ChunkEncoding::kAsRead) {
        return io.Check(
            q.data.size() == q.length, "data",
            Num(q.data.size()) + " bytes sent as read for " + Num(q.length));
      }
      return io.Check(
          !q.data.empty() && q.data.size() <= q.length, "data",
          Num(q.data.size()) + " compressed bytes for " + Num(q.length));
    case Op::kCopyBasis:
      FERRY_RETURN_IF_ERROR(Handle(io, q.handle));
      FERRY_RETURN_IF_ERROR(io.Uint("target offset", q.offset, 0, kU64Max));
      FERRY_RETURN_IF_ERROR(io.Path("basis path", q.other_path));
      FERRY_RETURN_IF_ERROR(
          io.Uint("basis offset", q.basis_offset, 0, kU64Max));
      FERRY_RETURN_IF_ERROR(io.Uint("length", q.length, 1, kMaxCopyBasisBytes));
      return io.Check(q.offset <= kU64Max - q.length &&
                          q.basis_offset <= kU64Max - q.length,
                      "length", "a range ends beyond 2^64");
  }
  return io.Check(false, "operation", "unknown");
}

// What follows an OK status in a RESPONSE to `op`.
template <typename IO, typename R>
Status ResponseFields(IO& io, Op op, R& r) {
  switch (op) {
    case Op::kCapabilities:
      return CapabilitiesFields(io, r.capabilities);
    case Op::kDescribe:
      return io.Bytes("description", r.text, kMaxDescribeBytes);
    case Op::kClockOffset:
      FERRY_RETURN_IF_ERROR(
          io.Optional("clock offset", r.clock_offset_ns, [&](auto& v) {
            return io.Int("clock offset", v, kI64Min, kI64Max);
          }));
      return io.Int("receiver clock", r.receiver_wall_ns, kI64Min, kI64Max);
    case Op::kStat:
      return io.Optional("found", r.entry,
                         [&](auto& e) { return io.EntryValue(e); });
    case Op::kListOpen:
    case Op::kOpenWrite:
      return Handle(io, r.handle);
    case Op::kListNext:
      return io.List("entry count", r.entries, kMaxListBatch,
                     [&](auto& e) { return io.EntryValue(e); });
    case Op::kOpenRead:
      FERRY_RETURN_IF_ERROR(Handle(io, r.handle));
      FERRY_RETURN_IF_ERROR(io.Required("entry", r.entry));
      return io.Bool("consistent", r.consistent);
    case Op::kRead:
      return io.Data("data", r.data, kMaxReadBytes);
    case Op::kReadNextData:
      FERRY_RETURN_IF_ERROR(
          io.Uint("extent offset", r.extent.offset, 0, kU64Max));
      FERRY_RETURN_IF_ERROR(io.Uint("extent length", r.extent.length, 0,
                                    kU64Max - r.extent.offset));
      return Status::Ok();
    case Op::kReadRestat:
      return io.Required("entry", r.entry);
    case Op::kGetXattrs:
    case Op::kReadXattrs:
      return io.Xattrs(r.xattrs);
    case Op::kGetTags:
    case Op::kReadTags:
      return io.Tags(r.tags);
    case Op::kRemoveFiles:
      return io.List("status count", r.statuses, kMaxRemoveBatch,
                     [&](auto& s) { return io.StatusValue(s); });
    case Op::kCleanupStaging:
    case Op::kCleanupStagingEntry:
      FERRY_RETURN_IF_ERROR(io.List(
          "removed count", r.removed, kMaxCleanupReports, [&](auto& item) {
            FERRY_RETURN_IF_ERROR(io.Path("removed path", item.path));
            return io.Bytes("removed item", item.what, kMaxCleanupWhatBytes);
          }));
      return io.Uint("removed unreported", r.removed_unreported, 0, kU64Max);
    case Op::kComputeDigest:
      FERRY_RETURN_IF_ERROR(io.DigestValue(r.digest));
      return io.Required("entry", r.entry);
    case Op::kSignatures:
      return io.Signatures(r.signatures);
    case Op::kListClose:
    case Op::kWriterSetXattrs:
    case Op::kWriterSetTags:
    case Op::kCommit:
    case Op::kAbort:
    case Op::kMakeDirectory:
    case Op::kCreateSymlink:
    case Op::kCreateSpecial:
    case Op::kCreateHardLink:
    case Op::kSetMetadata:
    case Op::kSetXattrs:
    case Op::kSetTags:
    case Op::kRemove:
    case Op::kRemoveTree:
    case Op::kSync:
    case Op::kCloseRead:
    case Op::kCopyBasis:
    case Op::kPutFile:
      return Status::Ok();
  }
  return io.Check(false, "operation", "unknown");
}

}  // namespace

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kCapabilities:
      return "CAPABILITIES";
    case Op::kDescribe:
      return "DESCRIBE";
    case Op::kClockOffset:
      return "CLOCK_OFFSET";
    case Op::kStat:
      return "STAT";
    case Op::kListOpen:
      return "LIST_OPEN";
    case Op::kListNext:
      return "LIST_NEXT";
    case Op::kListClose:
      return "LIST_CLOSE";
    case Op::kOpenWrite:
      return "OPEN_WRITE";
    case Op::kWriterSetXattrs:
      return "WRITER_SET_XATTRS";
    case Op::kWriterSetTags:
      return "WRITER_SET_TAGS";
    case Op::kCommit:
      return "COMMIT";
    case Op::kAbort:
      return "ABORT";
    case Op::kMakeDirectory:
      return "MAKE_DIRECTORY";
    case Op::kCreateSymlink:
      return "CREATE_SYMLINK";
    case Op::kCreateSpecial:
      return "CREATE_SPECIAL";
    case Op::kCreateHardLink:
      return "CREATE_HARD_LINK";
    case Op::kSetMetadata:
      return "SET_METADATA";
    case Op::kGetXattrs:
      return "GET_XATTRS";
    case Op::kSetXattrs:
      return "SET_XATTRS";
    case Op::kGetTags:
      return "GET_TAGS";
    case Op::kSetTags:
      return "SET_TAGS";
    case Op::kRemove:
      return "REMOVE";
    case Op::kRemoveFiles:
      return "REMOVE_FILES";
    case Op::kRemoveTree:
      return "REMOVE_TREE";
    case Op::kSync:
      return "SYNC";
    case Op::kCleanupStaging:
      return "CLEANUP_STAGING";
    case Op::kCleanupStagingEntry:
      return "CLEANUP_STAGING_ENTRY";
    case Op::kComputeDigest:
      return "COMPUTE_DIGEST";
    case Op::kOpenRead:
      return "OPEN_READ";
    case Op::kRead:
      return "READ";
    case Op::kReadNextData:
      return "READ_NEXT_DATA";
    case Op::kReadRestat:
      return "READ_RESTAT";
    case Op::kReadXattrs:
      return "READ_XATTRS";
    case Op::kReadTags:
      return "READ_TAGS";
    case Op::kCloseRead:
      return "CLOSE_READ";
    case Op::kSignatures:
      return "SIGNATURES";
    case Op::kCopyBasis:
      return "COPY_BASIS";
    case Op::kPutFile:
      return "PUT_FILE";
  }
  return "UNKNOWN";
}

bool OpIsRepeatable(Op op) {
  switch (op) {
    case Op::kCapabilities:
    case Op::kDescribe:
    case Op::kClockOffset:
    case Op::kStat:
    case Op::kGetXattrs:
    case Op::kGetTags:
    case Op::kComputeDigest:
    case Op::kRead:
    case Op::kReadNextData:
    case Op::kReadRestat:
    case Op::kReadXattrs:
    case Op::kReadTags:
    case Op::kSignatures:
      return true;
    default:
      return false;
  }
}

Status AppendRequest(std::vector<std::byte>* frame, uint32_t request_id,
                     const Request& request) {
  WireWriter w(frame);
  w.BeginFrame();
  WriteRequestOp(w, static_cast<uint32_t>(request.op));
  Encoder io(w);
  (void)RequestFields(io, request);  // problems are kept in w.status()
  return w.EndFrame(FrameType::kRequest, request_id);
}

Result<Request> DecodeRequest(std::span<const std::byte> payload) {
  WireReader r(payload, "REQUEST");
  FERRY_ASSIGN_OR_RETURN(uint32_t op, ReadRequestOp(r));
  if (op < kFirstOp || op > kLastOp) {
    return r.Error("operation", Num(op) + " unknown");
  }
  Request q;
  q.op = static_cast<Op>(op);
  Decoder io(r);
  FERRY_RETURN_IF_ERROR(RequestFields(io, q));
  FERRY_RETURN_IF_ERROR(r.Finish());
  return q;
}

Status AppendResponse(std::vector<std::byte>* frame, uint32_t request_id, Op op,
                      const Response& response, uint8_t version) {
  WireWriter w(frame);
  w.set_version(version);
  w.BeginFrame();
  WriteResponseStatus(w, response.status);
  if (response.status.ok()) {
    Encoder io(w);
    (void)ResponseFields(io, op, response);
  }
  return w.EndFrame(FrameType::kResponse, request_id);
}

Result<Response> DecodeResponse(Op op, std::span<const std::byte> payload,
                                uint8_t version) {
  WireReader r(payload, "RESPONSE");
  r.set_version(version);
  Response out;
  FERRY_RETURN_IF_ERROR(ReadResponseStatus(r, &out.status));
  if (!out.status.ok()) return out;
  Decoder io(r);
  FERRY_RETURN_IF_ERROR(ResponseFields(io, op, out));
  FERRY_RETURN_IF_ERROR(r.Finish());
  return out;
}

}  // namespace ferry::link
