#include "ferry/protocol/json_depth.h"

#include <string>

namespace ferry::protocol {
namespace {

using nlohmann::json;

// Builds nothing: counts the depth and ends the parse at the first level
// past the limit or at the first syntax error.
class DepthCheck {
 public:
  explicit DepthCheck(int max_depth) : max_depth_(max_depth) {}

  bool too_deep() const { return too_deep_; }

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) {
    return true;
  }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool key(json::string_t&) { return true; }
  bool start_object(std::size_t) { return Enter(); }
  bool end_object() { return Leave(); }
  bool start_array(std::size_t) { return Enter(); }
  bool end_array() { return Leave(); }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) {
    return false;
  }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }
  bool Leave() {
    --depth_;
    return true;
  }

  const int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

Result<json> ParseJson(std::string_view text, int max_depth) {
  DepthCheck check(max_depth);
  const bool ok = json::sax_parse(text, &check, json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (check.too_deep()) {
    return Status::InvalidArgument("nested more than " +
                                   std::to_string(max_depth) + " levels deep");
  }
  if (!ok) return Status::InvalidArgument("not valid JSON");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("not valid JSON");
  return j;
}

}  // namespace ferry::protocol
