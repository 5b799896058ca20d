// ModelPattern: one regular expression of the API model (a string shape's
// "pattern"), compiled with PCRE2 so that it means what it means to the Java
// service behind the model: the whole value must match, \A \z \p{..} and
// \uXXXX work, \d \s \w are ASCII-only, and '.' matches no line terminator.
// Compiled once; immutable and thread-safe (each match uses its own match
// data). Copies share the compiled code.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ferry/base/status.h"

namespace ferry {

class ModelPattern {
 public:
  static Result<ModelPattern> Compile(std::string_view pattern);

  // True if all of `value` (UTF-8) matches; false for invalid UTF-8.
  bool FullMatch(std::string_view value) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  ModelPattern(std::string pattern, std::shared_ptr<const Code> code)
      : pattern_(std::move(pattern)), code_(std::move(code)) {}

  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

}  // namespace ferry
