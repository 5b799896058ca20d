#include "ferry/client/shorthand.h"

#include <fstream>
#include <sstream>
#include <string>

namespace ferry {
namespace {

using nlohmann::json;

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

// The character classes of awscli's shorthand regular expressions. Bytes of
// multi-byte UTF-8 characters are allowed everywhere, as the CLI allows
// every character from U+007F up.
bool IsStartWordChar(unsigned char c) {
  // [!#-&(-+\--<>-Z\\-z|-\uffff]
  return c == '!' || (c >= '#' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= '-' && c <= '<') || (c >= '>' && c <= 'Z') ||
         (c >= '\\' && c <= 'z') || c >= '|';
}

bool IsFirstFollowChar(unsigned char c) {
  // [\s!#-&(-+\--\\^-|~-\uffff]
  return IsWhitespace(static_cast<char>(c)) || c == '!' ||
         (c >= '#' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= '-' && c <= '\\') || (c >= '^' && c <= '|') || c >= '~';
}

bool IsSecondFollowChar(unsigned char c) {
  // [\s!#-&(-+\--<>-\uffff]
  return IsWhitespace(static_cast<char>(c)) || c == '!' ||
         (c >= '#' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= '-' && c <= '<') || c >= '>';
}

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == '#' || c == '/' || c == ':';
}

std::string ReplaceAll(std::string s, std::string_view from,
                       std::string_view to) {
  size_t at = 0;
  while ((at = s.find(from, at)) != std::string::npos) {
    s.replace(at, from.size(), to);
    at += to.size();
  }
  return s;
}

std::string RightStrip(std::string s) {
  while (!s.empty() && IsWhitespace(s.back())) s.pop_back();
  return s;
}

struct SyntaxError {
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string_view input) : input_(input) {}

  Result<json> Parse() {
    try {
      return Parameter();
    } catch (const SyntaxError& e) {
      return Status::InvalidArgument(e.message);
    }
  }

 private:
  // The input with a caret under the character at `index`.
  std::string ErrorLocation(size_t index) const {
    std::string consumed(input_), remaining;
    size_t spaces = index;
    std::string_view before = input_.substr(0, index);
    if (size_t nl = before.rfind('\n'); nl != std::string_view::npos) {
      spaces = index - nl - 1;
    }
    if (size_t nl = input_.find('\n', index); nl != std::string_view::npos) {
      consumed = std::string(input_.substr(0, nl));
      remaining = std::string(input_.substr(nl));
    }
    return consumed + "\n" + std::string(spaces, ' ') + "^" + remaining;
  }

  [[noreturn]] void Fail(std::string_view expected, std::string_view actual,
                         size_t index) const {
    throw SyntaxError{"Expected: '" + std::string(expected) + "', received: '" +
                      std::string(actual) + "' for input:\n" +
                      ErrorLocation(index)};
  }

  bool AtEof() const { return index_ >= input_.size(); }
  // -1 at the end.
  int Current() const {
    return AtEof() ? -1 : static_cast<unsigned char>(input_[index_]);
  }

  void ConsumeWhitespace() {
    while (!AtEof() && IsWhitespace(input_[index_])) ++index_;
  }

  void Expect(char c, bool consume_whitespace = false) {
    if (consume_whitespace) ConsumeWhitespace();
    if (AtEof()) Fail(std::string(1, c), "EOF", index_);
    if (input_[index_] != c) {
      Fail(std::string(1, c), std::string(1, input_[index_]), index_);
    }
    ++index_;
    if (consume_whitespace) ConsumeWhitespace();
  }

  json Parameter() {
    json params = json::object();
    auto [key, value] = KeyVal();
    params[key] = std::move(value);
    size_t last_index = index_;
    while (!AtEof()) {
      Expect(',', true);
      auto [next_key, next_value] = KeyVal();
      if (params.contains(next_key)) {
        throw SyntaxError{"Second instance of key \"" + next_key +
                          "\" encountered for input:\n" +
                          ErrorLocation(last_index + 1) +
                          "\nThis is often because there is a preceding "
                          "\",\" instead of a space."};
      }
      params[next_key] = std::move(next_value);
      last_index = index_;
    }
    return params;
  }

  std::pair<std::string, json> KeyVal() {
    std::string key = Key();
    resolve_files_ = false;
    ConsumeWhitespace();
    if (Current() == '@') {
      ++index_;
      ConsumeWhitespace();
      resolve_files_ = true;
    }
    Expect('=', true);
    return {key, Values()};
  }

  std::string Key() {
    size_t start = index_;
    while (!AtEof() && IsKeyChar(input_[index_])) ++index_;
    return std::string(input_.substr(start, index_ - start));
  }

  json Values() {
    if (AtEof()) return "";
    if (Current() == '[') return ExplicitList();
    if (Current() == '{') return HashLiteral();
    return CsvValue();
  }

  json CsvValue() {
    json first = FirstValue();
    ConsumeWhitespace();
    if (AtEof() || input_[index_] != ',') return first;
    Expect(',', true);
    json list = json::array({first});
    while (true) {
      size_t before = index_;
      try {
        json current = SecondValue();
        ConsumeWhitespace();
        if (AtEof()) {
          list.push_back(std::move(current));
          break;
        }
        Expect(',', true);
        list.push_back(std::move(current));
      } catch (const SyntaxError&) {
        // a=b,c=d: "c" was a key, not a second value. Back up to the comma
        // before it and let the caller go on with the next key.
        if (AtEof()) throw;
        (void)before;
        while (index_ > 0 && input_[index_] != ',') --index_;
        break;
      }
    }
    if (list.size() == 1) return first;
    return list;
  }

  json ExplicitList() {
    Expect('[', true);
    json values = json::array();
    while (Current() != ']') {
      values.push_back(ExplicitValues());
      ConsumeWhitespace();
      if (Current() != ']') {
        Expect(',');
        ConsumeWhitespace();
      }
    }
    Expect(']');
    return values;
  }

  json ExplicitValues() {
    if (Current() == '[') return ExplicitList();
    if (Current() == '{') return HashLiteral();
    return FirstValue();
  }

  json HashLiteral() {
    Expect('{', true);
    json object = json::object();
    while (Current() != '}') {
      std::string key = Key();
      resolve_files_ = false;
      ConsumeWhitespace();
      if (Current() == '@') {
        ++index_;
        ConsumeWhitespace();
        resolve_files_ = true;
      }
      Expect('=', true);
      json value = ExplicitValues();
      ConsumeWhitespace();
      if (Current() != '}') {
        Expect(',');
        ConsumeWhitespace();
      }
      object[key] = std::move(value);
    }
    Expect('}');
    return object;
  }

  json FirstValue() { return Word(IsFirstFollowChar, false); }
  json SecondValue() { return Word(IsSecondFollowChar, true); }

  // A quoted value, or (\\,|[start])(\\,|[follow])* with `follow` the
  // characters that may continue it. Without such a word: "" unless
  // `required`, when it is an error.
  json Word(bool (*follow)(unsigned char), bool required) {
    if (Current() == '\'') return Quoted('\'');
    if (Current() == '"') return Quoted('"');
    size_t start = index_;
    auto escaped_comma = [&](size_t i) {
      return i + 1 < input_.size() && input_[i] == '\\' && input_[i + 1] == ',';
    };
    size_t i = index_;
    if (escaped_comma(i)) {
      i += 2;
    } else if (i < input_.size() &&
               IsStartWordChar(static_cast<unsigned char>(input_[i]))) {
      ++i;
    } else if (required) {
      Fail("<second>", "<none>", index_);
    } else {
      return "";
    }
    while (i < input_.size()) {
      if (escaped_comma(i)) {
        i += 2;
      } else if (follow(static_cast<unsigned char>(input_[i]))) {
        ++i;
      } else {
        break;
      }
    }
    index_ = i;
    return Resolve(RightStrip(
        ReplaceAll(std::string(input_.substr(start, i - start)), "\\,", ",")));
  }

  // '(?:\\'|[^'])*' or "(?:\\"|[^"])*", greedy with backtracking: the value
  // ends at the first unescaped quote, else at the last escaped one (whose
  // backslash is then part of the value).
  json Quoted(char quote) {
    size_t close = std::string_view::npos;
    size_t last_escaped = std::string_view::npos;
    for (size_t j = index_ + 1; j < input_.size(); ++j) {
      if (input_[j] != quote) continue;
      if (j >= index_ + 2 && input_[j - 1] == '\\') {
        last_escaped = j;
        continue;
      }
      close = j;
      break;
    }
    if (close == std::string_view::npos) close = last_escaped;
    if (close == std::string_view::npos) {
      Fail(quote == '\'' ? "<singled quoted>" : "<double quoted>", "<none>",
           index_);
    }
    size_t i = close;
    std::string value(input_.substr(index_ + 1, i - index_ - 1));
    index_ = i + 1;
    value = ReplaceAll(value, std::string("\\") + quote, std::string(1, quote));
    value = ReplaceAll(value, "\\\\", "\\");
    return Resolve(std::move(value));
  }

  // key@=file://path or fileb://path: the file's contents.
  json Resolve(std::string value) {
    if (!resolve_files_) return value;
    for (std::string_view prefix : {"file://", "fileb://"}) {
      if (value.rfind(prefix, 0) == 0) {
        std::string path = value.substr(prefix.size());
        std::ifstream in(path, std::ios::binary);
        if (!in) {
          throw SyntaxError{"Unable to load paramfile " + value +
                            ": cannot read " + path};
        }
        std::ostringstream contents;
        contents << in.rdbuf();
        return contents.str();
      }
    }
    return value;
  }

  std::string_view input_;
  size_t index_ = 0;
  bool resolve_files_ = false;
};

}  // namespace

Result<nlohmann::json> ParseShorthand(std::string_view text) {
  return Parser(text).Parse();
}

}  // namespace ferry
