#include "blt_core/bpe/vocab_io.hpp"

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace blt::bpe {

namespace {

int8_t b64_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return static_cast<int8_t>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<int8_t>(c - 'a' + 26);
  if (c >= '0' && c <= '9') return static_cast<int8_t>(c - '0' + 52);
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with padding; false on any other character or a bad length.
bool b64_decode(const uint8_t* p, size_t n, std::vector<uint8_t>& out) {
  out.clear();
  if (n == 0 || n % 4 != 0) return false;
  size_t pad = 0;
  if (p[n - 1] == '=') ++pad;
  if (p[n - 2] == '=') ++pad;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    for (int k = 0; k < 4; ++k) {
      bool is_pad = i + k >= n - pad;
      v[k] = is_pad ? 0 : b64_value(p[i + k]);
      if (v[k] < 0) return false;
    }
    uint32_t x = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<uint8_t>(x >> 16));
    if (i + 4 < n || pad < 2) out.push_back(static_cast<uint8_t>(x >> 8));
    if (i + 4 < n || pad < 1) out.push_back(static_cast<uint8_t>(x));
  }
  return true;
}

void b64_encode(std::span<const uint8_t> in, std::string& out) {
  static const char* tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t x = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8) | in[i + 2];
    out += tab[x >> 18];
    out += tab[(x >> 12) & 63];
    out += tab[(x >> 6) & 63];
    out += tab[x & 63];
  }
  size_t rest = in.size() - i;
  if (rest) {
    uint32_t x = uint32_t(in[i]) << 16;
    if (rest == 2) x |= uint32_t(in[i + 1]) << 8;
    out += tab[x >> 18];
    out += tab[(x >> 12) & 63];
    out += rest == 2 ? tab[(x >> 6) & 63] : '=';
    out += '=';
  }
}

[[noreturn]] void fail(const std::string& source, size_t line, const std::string& what) {
  throw std::invalid_argument(source + ":" + std::to_string(line) + ": " + what);
}

}  // namespace

Vocab parse_tiktoken(std::span<const uint8_t> data, const std::string& source) {
  Vocab table;
  table.reserve(data.size() / 10);
  std::vector<uint8_t> tok;
  const uint8_t* p = data.data();
  const uint8_t* end = p + data.size();
  size_t line = 0;
  while (p < end) {
    ++line;
    const uint8_t* eol = static_cast<const uint8_t*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!eol) eol = end;
    const uint8_t* q = eol;
    if (q > p && q[-1] == '\r') --q;
    const uint8_t* line_start = p;
    p = eol + 1;
    if (q == line_start) continue;  // blank lines are skipped, as tiktoken does
    const uint8_t* sp = static_cast<const uint8_t*>(std::memchr(line_start, ' ', static_cast<size_t>(q - line_start)));
    if (!sp) fail(source, line, "expected 'BASE64TOKEN RANK', found no space (truncated line?)");
    if (sp == line_start) fail(source, line, "empty token before the rank");
    if (!b64_decode(line_start, static_cast<size_t>(sp - line_start), tok))
      fail(source, line, "bad base64 token '" + std::string(line_start, sp) + "'");
    const char* r0 = reinterpret_cast<const char*>(sp + 1);
    const char* r1 = reinterpret_cast<const char*>(q);
    uint64_t rank = 0;
    auto res = std::from_chars(r0, r1, rank);
    if (r0 == r1) fail(source, line, "missing rank after the token (truncated line?)");
    if (res.ec != std::errc() || res.ptr != r1 || rank >= 0xFFFFFFF0ull)
      fail(source, line, "bad rank '" + std::string(r0, r1) + "' (expected a non-negative integer)");
    if (tok.empty()) fail(source, line, "empty token");
    uint32_t r = static_cast<uint32_t>(rank);
    if (table.contains(r)) fail(source, line, "duplicate rank " + std::to_string(r));
    bool added = false;
    try {
      added = table.add(tok, r);
    } catch (const std::invalid_argument& e) {
      fail(source, line, e.what());
    }
    if (!added) {
      uint32_t other = table.find(tok);
      fail(source, line, "duplicate token (already has rank " + std::to_string(other) + ")");
    }
  }
  if (table.size() == 0) throw std::invalid_argument(source + ": no tokens");
  return table;
}

std::string format_tiktoken(const Vocab& vocab) {
  std::string out;
  out.reserve(vocab.arena_bytes() * 2 + vocab.size() * 8);
  for (uint32_t id = 0; id < vocab.id_end(); ++id) {
    auto b = vocab.bytes(id);
    if (b.empty()) continue;
    b64_encode(b, out);
    out += ' ';
    out += std::to_string(id);
    out += '\n';
  }
  return out;
}

// ---- pickle blob ---------------------------------------------------------------------------

namespace {
constexpr char kMagic[8] = {'B', 'L', 'T', 'B', 'P', 'E', '0', '1'};

struct Writer {
  std::string s;
  void u32(uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
  void str(std::string_view v) {
    u32(static_cast<uint32_t>(v.size()));
    s.append(v);
  }
};

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  void need(size_t n) {
    if (static_cast<size_t>(end - p) < n) throw std::invalid_argument("BPE blob is truncated");
  }
  uint32_t u32() {
    need(4);
    uint32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  std::span<const uint8_t> bytes(size_t n) {
    need(n);
    std::span<const uint8_t> r(p, n);
    p += n;
    return r;
  }
  std::string str() {
    auto b = bytes(u32());
    return std::string(b.begin(), b.end());
  }
};
}  // namespace

std::string serialize_spec(const BpeSpec& spec) {
  Writer w;
  w.s.append(kMagic, 8);
  w.str(spec.name);
  w.str(spec.pattern);
  w.u32((spec.has_merges ? 1u : 0u) | (spec.whole_piece_lookup ? 2u : 0u));
  const Vocab& v = spec.vocab;
  w.u32(static_cast<uint32_t>(v.size()));
  // ids, lengths, then all bytes: the arena is copied as one block.
  std::string lens, arena;
  for (uint32_t id = 0; id < v.id_end(); ++id) {
    auto b = v.bytes(id);
    if (b.empty()) continue;
    w.u32(id);
    uint32_t n = static_cast<uint32_t>(b.size());
    lens.append(reinterpret_cast<const char*>(&n), 4);
    arena.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  w.s += lens;
  w.u32(static_cast<uint32_t>(arena.size()));
  w.s += arena;
  w.u32(static_cast<uint32_t>(spec.has_merges ? spec.merges.size() : 0));
  if (spec.has_merges)
    w.s.append(reinterpret_cast<const char*>(spec.merges.data()), spec.merges.size() * 8);
  w.u32(static_cast<uint32_t>(spec.specials.size()));
  for (const auto& sp : spec.specials) {
    w.str(sp.text);
    w.u32(sp.id);
    w.u32((sp.always ? 1u : 0u) | (sp.lstrip ? 2u : 0u) | (sp.rstrip ? 4u : 0u));
  }
  return w.s;
}

BpeSpec deserialize_spec(std::span<const uint8_t> blob) {
  Reader r{blob.data(), blob.data() + blob.size()};
  auto magic = r.bytes(8);
  if (std::memcmp(magic.data(), kMagic, 8) != 0) throw std::invalid_argument("not a bltok BPE blob");
  BpeSpec spec;
  spec.name = r.str();
  spec.pattern = r.str();
  uint32_t flags = r.u32();
  spec.has_merges = flags & 1;
  spec.whole_piece_lookup = flags & 2;
  uint32_t n = r.u32();
  auto ids = r.bytes(size_t{n} * 4);
  auto lens = r.bytes(size_t{n} * 4);
  uint32_t arena_size = r.u32();
  auto arena = r.bytes(arena_size);
  spec.vocab.reserve(n);
  size_t off = 0;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t id, len;
    std::memcpy(&id, ids.data() + size_t{i} * 4, 4);
    std::memcpy(&len, lens.data() + size_t{i} * 4, 4);
    if (off + len > arena.size()) throw std::invalid_argument("BPE blob is corrupt");
    if (!spec.vocab.add(arena.subspan(off, len), id)) throw std::invalid_argument("BPE blob is corrupt");
    off += len;
  }
  uint32_t nm = r.u32();
  auto mb = r.bytes(size_t{nm} * 8);
  spec.merges.resize(nm);
  if (nm) std::memcpy(spec.merges.data(), mb.data(), mb.size());
  uint32_t ns = r.u32();
  for (uint32_t i = 0; i < ns; ++i) {
    SpecialToken t;
    t.text = r.str();
    t.id = r.u32();
    uint32_t f = r.u32();
    t.always = f & 1;
    t.lstrip = f & 2;
    t.rstrip = f & 4;
    spec.specials.push_back(std::move(t));
  }
  return spec;
}

}  // namespace blt::bpe
