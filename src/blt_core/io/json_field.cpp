#include "blt_core/io/json_field.hpp"

#include <cstdint>
#include <stdexcept>

namespace blt {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(what + " at byte " + std::to_string(i_));
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }
  void expect(char c) {
    ws();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }

  // A JSON string starting at s_[i_] == '"'; decoded into out when out is non-null.
  void string(std::string* out) {
    if (peek() != '"') fail("expected a string");
    ++i_;
    for (;;) {
      if (at_end()) fail("unterminated string");
      size_t run = i_;
      while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\' && static_cast<unsigned char>(s_[i_]) >= 0x20) ++i_;
      if (out) out->append(s_.data() + run, i_ - run);
      if (at_end()) fail("unterminated string");
      char c = s_[i_];
      if (c == '"') {
        ++i_;
        return;
      }
      if (c != '\\') fail("control character in string");
      ++i_;
      if (at_end()) fail("unterminated string");
      char e = s_[i_++];
      char plain = 0;
      switch (e) {
        case '"': plain = '"'; break;
        case '\\': plain = '\\'; break;
        case '/': plain = '/'; break;
        case 'b': plain = '\b'; break;
        case 'f': plain = '\f'; break;
        case 'n': plain = '\n'; break;
        case 'r': plain = '\r'; break;
        case 't': plain = '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (s_.substr(i_, 2) != "\\u") fail("lone UTF-16 surrogate");
            i_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("lone UTF-16 surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("lone UTF-16 surrogate");
          }
          if (out) utf8(cp, *out);
          continue;
        }
        default: fail(std::string("invalid escape '\\") + e + "'");
      }
      if (out) out->push_back(plain);
    }
  }

  // Skips any JSON value (nested objects and arrays included).
  void skip_value() {
    ws();
    char c = peek();
    if (c == '"') return string(nullptr);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      ws();
      if (peek() == close) {
        ++i_;
        return;
      }
      for (;;) {
        if (close == '}') {
          ws();
          string(nullptr);
          expect(':');
        }
        skip_value();
        ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(close);
        return;
      }
    }
    // A number or a literal: its characters up to the next delimiter.
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ' &&
           s_[i_] != '\t' && s_[i_] != '\n' && s_[i_] != '\r' && s_[i_] != '"')
      ++i_;
    if (i_ == start) fail("expected a value");
  }

  void object_field(std::string_view key, std::string& out) {
    expect('{');
    bool found = false;
    std::string k;
    ws();
    if (peek() == '}') {
      ++i_;
    } else {
      for (;;) {
        ws();
        k.clear();
        string(&k);
        expect(':');
        ws();
        if (k == key) {
          if (peek() != '"') fail("value of key \"" + std::string(key) + "\" is not a string");
          out.clear();
          string(&out);
          found = true;
        } else {
          skip_value();
        }
        ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        break;
      }
    }
    ws();
    if (!at_end()) fail("extra data after the object");
    if (!found) throw std::invalid_argument("no key \"" + std::string(key) + "\" in the object");
  }

 private:
  uint32_t hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return v;
  }
  static void utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

void json_string_field(std::string_view text, std::string_view key, std::string& out) {
  Parser p(text);
  p.object_field(key, out);
}

}  // namespace blt
