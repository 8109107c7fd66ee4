// Pretokenizers: OpenAI scanners against PCRE2 on the corpus and on random byte soups, safe-split
// cuts, PCRE2 fallback errors and find_iter details, thread safety.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "blt_core/text/openai_patterns.hpp"
#include "blt_core/text/openai_scanner.hpp"
#include "blt_core/text/pretokenizer.hpp"
#include "blt_core/text/regex_pretokenizer.hpp"

#include "test_support.hpp"

namespace blt {
namespace {

using test::read_file;
using test::shared_dir;

const OpenAIPattern kAll[] = {OpenAIPattern::r50k, OpenAIPattern::cl100k, OpenAIPattern::o200k};

TextSpan span_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<uint32_t> ends_of(const Pretokenizer& p, const std::string& s) {
  std::vector<uint32_t> out;
  p.split(span_of(s), out);
  return out;
}

std::vector<std::string> pieces_of(const Pretokenizer& p, const std::string& s) {
  std::vector<std::string> out;
  uint32_t start = 0;
  for (uint32_t e : ends_of(p, s)) out.push_back(s.substr(start, e - start)), start = e;
  return out;
}

// Code points drawn from Unicode 14.0 (what PCRE2 10.42 knows) so scanners and PCRE2 must agree,
// plus invalid UTF-8 fragments. U+180E is left out: PCRE2's \s matches it, tiktoken's does not.
std::string random_soup(std::mt19937& rng, size_t parts) {
  static const std::vector<std::string> kParts = {
      " ", "  ", "\t", "\n", "\r\n", "\n\n", "\x0b", "\xc2\xa0", "\xc2\x85", "\xe3\x80\x80",
      "\xe2\x80\xa8", "a", "Z", "hello", "WORLD", "mIxEd", "0", "123", "98765", "\xd9\xa3",
      "'", "'s", "'S", "'re", "'LL", "'ve", "'d", "'m", "'t", "'\xc5\xbf", "\xe2\x80\x99s", ".",
      ",", "!", "/", "//", "-", "#", "\xc3\xa9", "e\xcc\x81", "\xcc\x81", "\xe4\xb8\xad",
      "\xc7\x85", "\xca\xb0", "\xe0\xa4\x95\xe0\xa5\x8d", "\xf0\x9f\x91\x8d",
      "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", "\xe2\x80\x8d", "\xef\xb8\x8f", "\xe2\x85\xab",
      "\x80", "\xbf", "\xc0\x80", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80",
      "\xf4\x90\x80\x80", "\xff", "\xfe"};
  std::uniform_int_distribution<size_t> pick(0, kParts.size() - 1);
  std::string s;
  for (size_t i = 0; i < parts; ++i) s += kParts[pick(rng)];
  return s;
}

// A general pattern runs on PCRE2's JIT where the platform has one (x86-64 and AArch64 do).
TEST(Pretokenizer, GeneralPatternIsJitCompiled) {
#if defined(__x86_64__) || defined(__aarch64__)
  RegexPretokenizer general(R"(\p{L}+|\p{N}+|\s+|[^\s\p{L}\p{N}]+)");
  EXPECT_TRUE(general.jit_compiled());
#else
  GTEST_SKIP() << "no PCRE2 JIT on this platform";
#endif
}

TEST(Pretokenizer, FactoryPicksScannersForKnownPatterns) {
  for (auto pat : kAll) {
    std::string text(openai_pattern_text(pat));
    EXPECT_NE(make_scanner_pretokenizer(text), nullptr);
    EXPECT_EQ(make_pretokenizer(text)->pattern(), text);
    EXPECT_EQ(find_openai_pattern(text), pat);
  }
  EXPECT_EQ(make_scanner_pretokenizer("\\w+"), nullptr);
  EXPECT_EQ(make_pretokenizer("\\w+")->pattern(), "\\w+");
}

TEST(Pretokenizer, PatternsMatchSharedMetaFiles) {
  const std::pair<const char*, OpenAIPattern> files[] = {{"r50k_base", OpenAIPattern::r50k},
                                                         {"p50k_base", OpenAIPattern::r50k},
                                                         {"cl100k_base", OpenAIPattern::cl100k},
                                                         {"o200k_base", OpenAIPattern::o200k}};
  for (auto [name, pat] : files) {
    std::string meta = read_file(shared_dir() + "/vocab/" + name + ".meta.json");
    BLT_NEED_SHARED_DATA(!meta.empty());
    // The JSON escapes each backslash; undo that to compare with the pattern text.
    std::string escaped;
    for (char c : openai_pattern_text(pat)) escaped += c == '\\' ? std::string("\\\\") : std::string(1, c);
    EXPECT_NE(meta.find("\"" + escaped + "\""), std::string::npos) << name;
  }
}

TEST(Pretokenizer, ScannersEqualPcre2OnCorpusSlices) {
  const char* files[] = {"en_prose.txt", "code_python.txt", "code_c.txt", "multilingual.txt"};
  for (const char* f : files) {
    std::string all = read_file(shared_dir() + "/corpus/" + f);
    BLT_NEED_SHARED_DATA(!all.empty());
    for (auto pat : kAll) {
      auto scanner = make_scanner_pretokenizer(openai_pattern_text(pat));
      auto regex = make_regex_pretokenizer(openai_pattern_text(pat));
      for (size_t at : {size_t(0), all.size() / 3, all.size() / 2 + 7}) {
        std::string slice = all.substr(at, 200'000);  // may start or end inside a character
        EXPECT_EQ(ends_of(*scanner, slice), ends_of(*regex, slice)) << f << " at " << at;
      }
    }
  }
}

TEST(Pretokenizer, ScannersEqualPcre2OnRandomSoups) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 3000; ++round) {
    std::string s = random_soup(rng, 1 + round % 40);
    for (auto pat : kAll) {
      auto scanner = make_scanner_pretokenizer(openai_pattern_text(pat));
      auto regex = make_regex_pretokenizer(openai_pattern_text(pat));
      ASSERT_EQ(pieces_of(*scanner, s), pieces_of(*regex, s)) << static_cast<int>(pat) << " " << s;
    }
  }
}

// Expected pieces as tiktoken 0.14 gives them (through a vocabulary of all substrings).
TEST(Pretokenizer, HandWorkedExamples) {
  auto r50k = make_pretokenizer(openai_pattern_text(OpenAIPattern::r50k));
  auto cl100k = make_pretokenizer(openai_pattern_text(OpenAIPattern::cl100k));
  auto o200k = make_pretokenizer(openai_pattern_text(OpenAIPattern::o200k));
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces_of(*r50k, "I'm  HERE'S 12345!\n\nok"),
            (V{"I", "'m", " ", " HERE", "'", "S", " 12345", "!", "\n", "\n", "ok"}));
  EXPECT_EQ(pieces_of(*cl100k, "I'm  HERE'S 12345!\n\nok"),
            (V{"I", "'m", " ", " HERE", "'S", " ", "123", "45", "!\n\n", "ok"}));
  EXPECT_EQ(pieces_of(*o200k, "I'm  HERE'S 12345!\n\nok"),
            (V{"I'm", " ", " HERE'S", " ", "123", "45", "!\n\n", "ok"}));
  EXPECT_EQ(pieces_of(*o200k, "camelCaseXMLParser a/b/\nc"),
            (V{"camel", "Case", "XMLParser", " a", "/b", "/\n", "c"}));
  EXPECT_EQ(pieces_of(*cl100k, "x  \n  y\t"), (V{"x", "  \n", " ", " y", "\t"}));
  EXPECT_EQ(pieces_of(*r50k, "x  \n  y\t"), (V{"x", "  \n ", " y", "\t"}));
}

TEST(Pretokenizer, InvalidUtf8RunsArePieces) {
  std::string s = "ab\xff\xfe cd\xe2\x82x \x80";
  for (auto pat : kAll) {
    for (auto& p : {make_scanner_pretokenizer(openai_pattern_text(pat)),
                    make_regex_pretokenizer(openai_pattern_text(pat))}) {
      EXPECT_EQ(pieces_of(*p, s), (std::vector<std::string>{"ab", "\xff\xfe", " cd", "\xe2\x82",
                                                            "x", " ", "\x80"}));
    }
  }
}

// pieces(s) == pieces(s[:p]) ++ (pieces(s[p:]) shifted by p)
bool cut_is_invisible(const Pretokenizer& pre, const std::string& s, size_t p) {
  std::vector<uint32_t> joined = ends_of(pre, s.substr(0, p));
  for (uint32_t e : ends_of(pre, s.substr(p))) joined.push_back(static_cast<uint32_t>(p + e));
  return joined == ends_of(pre, s);
}

TEST(Pretokenizer, SafeSplitCutsChangeNoPiece) {
  std::mt19937 rng(777);
  size_t found = 0;
  for (int round = 0; round < 1500; ++round) {
    std::string s = random_soup(rng, 2 + round % 60);
    std::uniform_int_distribution<size_t> pos(0, s.size());
    size_t target = pos(rng);
    size_t window_end = std::uniform_int_distribution<size_t>(target, s.size())(rng);
    std::string window = s.substr(0, window_end);
    for (auto pat : kAll) {
      auto scanner = make_scanner_pretokenizer(openai_pattern_text(pat));
      auto regex = make_regex_pretokenizer(openai_pattern_text(pat));
      size_t p = scanner->safe_split(span_of(window), target);
      EXPECT_EQ(p, regex->safe_split(span_of(window), target));
      if (!p) continue;
      ++found;
      ASSERT_LE(p, target);
      ASSERT_LT(p, window.size());
      EXPECT_TRUE(cut_is_invisible(*scanner, s, p)) << static_cast<int>(pat) << " " << p << " " << s;
      EXPECT_TRUE(cut_is_invisible(*scanner, "q \n" + s, p + 3)) << s;
    }
  }
  EXPECT_GT(found, 500u);  // the property was exercised, not vacuously true
}

TEST(Pretokenizer, CutCheckDetectsUnsafeCuts) {
  auto r50k = make_scanner_pretokenizer(openai_pattern_text(OpenAIPattern::r50k));
  auto o200k = make_scanner_pretokenizer(openai_pattern_text(OpenAIPattern::o200k));
  EXPECT_FALSE(cut_is_invisible(*r50k, "a \nb", 3));   // `\s+(?!\S)` sees the end of text
  EXPECT_FALSE(cut_is_invisible(*o200k, "a.\n/b", 3));  // `[\r\n/]*` continues over '/'
  EXPECT_NE(r50k->safe_split(span_of("a \nb"), 3), 3u);
  EXPECT_NE(o200k->safe_split(span_of("a.\n/b"), 3), 3u);
}

TEST(Pretokenizer, SafeSplitOfUnknownPatternIsZero) {
  auto p = make_pretokenizer("\\w+|\\s+");
  EXPECT_EQ(p->safe_split(span_of("abc def\nghi jkl"), 12), 0u);
}

TEST(Pretokenizer, BadPatternThrowsInvalidArgumentNamingIt) {
  try {
    make_pretokenizer("(unclosed");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("(unclosed"), std::string::npos) << e.what();
  }
}

TEST(Pretokenizer, RegexFindIterSkipsEmptyMatchesLikeTiktoken) {
  // "a*" on "baab": empty at 0 (the search moves one character on), "aa", empty at 3.
  auto p = make_regex_pretokenizer("a*");
  EXPECT_EQ(pieces_of(*p, "baab"), (std::vector<std::string>{"b", "aa", "b"}));
  // Lookbehind sees the text before the piece start.
  auto lb = make_regex_pretokenizer("(?<=a)b");
  EXPECT_EQ(pieces_of(*lb, "abb"), (std::vector<std::string>{"a", "b", "b"}));
}

TEST(Pretokenizer, RegexIsThreadSafe) {
  std::mt19937 rng(99);
  std::string text;
  for (int i = 0; i < 200; ++i) text += random_soup(rng, 50);
  auto regex = make_regex_pretokenizer(openai_pattern_text(OpenAIPattern::o200k));
  const auto expected = ends_of(*regex, text);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      bool same = true;
      for (int i = 0; i < 20; ++i) same = same && ends_of(*regex, text) == expected;
      ok[t] = same;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(ok[t]) << t;
}

TEST(Pretokenizer, NextPieceTilesTheText) {
  std::mt19937 rng(5);
  std::string s = random_soup(rng, 400);
  for (auto pat : kAll) {
    auto scanner = make_scanner_pretokenizer(openai_pattern_text(pat));
    size_t pos = 0, n = 0;
    while (pos < s.size()) {
      size_t next = scanner->next_piece(span_of(s), pos);
      ASSERT_GT(next, pos);
      ASSERT_LE(next, s.size());
      pos = next, ++n;
    }
    EXPECT_EQ(n, ends_of(*scanner, s).size());
  }
}

}  // namespace
}  // namespace blt
