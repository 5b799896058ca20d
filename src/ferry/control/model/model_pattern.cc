#define PCRE2_CODE_UNIT_WIDTH 8
#include "ferry/control/model/model_pattern.h"

#include <pcre2.h>

namespace ferry {
namespace {

// Bounds the backtracking a hostile value can cause in patterns such as
// ^[A-Za-z0-9]((\.|-+)?[A-Za-z0-9]){0,252}$; past it the value does not
// match.
constexpr uint32_t kMatchLimit = 1'000'000;

}  // namespace

struct ModelPattern::Code {
  pcre2_code* code = nullptr;
  pcre2_match_context* match_context = nullptr;
  ~Code() {
    pcre2_match_context_free(match_context);
    pcre2_code_free(code);
  }
};

Result<ModelPattern> ModelPattern::Compile(std::string_view pattern) {
  // Java's '.' excludes \n, \r, \u0085, \u2028 and \u2029: PCRE2's NEWLINE_ANY
  // is the closest (it adds \v and \f).
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  if (context == nullptr) return Status::Internal("PCRE2: out of memory");
  pcre2_set_newline(context, PCRE2_NEWLINE_ANY);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2_UTF: code points, \p{..}; no PCRE2_UCP, so \d \s \w stay ASCII as
  // in Java; PCRE2_ALT_BSUX: Java's \uXXXX escapes; ANCHORED | ENDANCHORED:
  // Java's Matcher.matches(), the whole value.
  pcre2_code* code = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
      PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &error,
      &offset, context);
  pcre2_compile_context_free(context);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error, buffer, sizeof(buffer));
    return Status::InvalidArgument(
        "bad pattern '" + std::string(pattern) + "' at offset " +
        std::to_string(offset) + ": " + reinterpret_cast<const char*>(buffer));
  }
  auto shared = std::make_shared<Code>();
  shared->code = code;
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // interpreted if not
  shared->match_context = pcre2_match_context_create(nullptr);
  if (shared->match_context == nullptr) {
    return Status::Internal("PCRE2: out of memory");
  }
  pcre2_set_match_limit(shared->match_context, kMatchLimit);
  return ModelPattern(std::string(pattern), std::move(shared));
}

bool ModelPattern::FullMatch(std::string_view value) const {
  pcre2_match_data* data =
      pcre2_match_data_create_from_pattern(code_->code, nullptr);
  if (data == nullptr) return false;
  int rc = pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(value.data()),
                       value.size(), 0, 0, data, code_->match_context);
  pcre2_match_data_free(data);
  return rc >= 0;
}

}  // namespace ferry
