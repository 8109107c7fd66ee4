#include "blt_core/bpe/special_matcher.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

#include "blt_core/text/whitespace.hpp"

namespace blt::bpe {

using unicode::whitespace_at;
using unicode::whitespace_before;

namespace {
struct BuildNode {
  std::map<uint8_t, std::unique_ptr<BuildNode>> kids;
  int32_t terminal = -1;
};
}  // namespace

SpecialMatcher::SpecialMatcher(std::vector<SpecialToken> tokens) : tokens_(std::move(tokens)) {
  BuildNode root;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const std::string& t = tokens_[i].text;
    if (t.empty()) throw std::invalid_argument("special token " + std::to_string(tokens_[i].id) + " is empty");
    BuildNode* n = &root;
    for (char c : t) {
      auto& k = n->kids[static_cast<uint8_t>(c)];
      if (!k) k = std::make_unique<BuildNode>();
      n = k.get();
    }
    if (n->terminal >= 0) throw std::invalid_argument("duplicate special token '" + t + "'");
    n->terminal = static_cast<int32_t>(i);
    max_len_ = std::max(max_len_, t.size());
    any_lstrip_ |= tokens_[i].lstrip;
    any_rstrip_ |= tokens_[i].rstrip;
    first_byte_[static_cast<uint8_t>(t[0])] = true;
  }
  int firsts = 0;
  for (int b = 0; b < 256; ++b)
    if (first_byte_[b]) ++firsts, single_first_byte_ = b;
  if (firsts != 1) single_first_byte_ = -1;
  // Flatten breadth-first: node i's edges are contiguous and sorted by byte.
  std::vector<BuildNode*> order{&root};
  nodes_.push_back(Node{0, 0, -1});
  for (size_t i = 0; i < order.size(); ++i) {
    BuildNode* b = order[i];
    nodes_[i].first_edge = static_cast<uint32_t>(edges_.size());
    nodes_[i].n_edges = static_cast<uint16_t>(b->kids.size());
    nodes_[i].terminal = b->terminal;
    for (auto& [byte, kid] : b->kids) {
      edges_.push_back(Edge{byte, static_cast<uint32_t>(order.size())});
      order.push_back(kid.get());
      nodes_.push_back(Node{0, 0, -1});
    }
  }
}

int32_t SpecialMatcher::child(uint32_t node, uint8_t b) const {
  const Node& n = nodes_[node];
  const Edge* e = edges_.data() + n.first_edge;
  const Edge* end = e + n.n_edges;
  if (n.n_edges > 8) {
    e = std::lower_bound(e, end, b, [](const Edge& x, uint8_t v) { return x.byte < v; });
    return e != end && e->byte == b ? static_cast<int32_t>(e->child) : -1;
  }
  for (; e != end; ++e)
    if (e->byte == b) return static_cast<int32_t>(e->child);
  return -1;
}

bool SpecialMatcher::any_active(const SpecialPolicy& policy) const {
  for (uint32_t i = 0; i < tokens_.size(); ++i)
    if (use(policy, i) != SpecialUse::text) return true;
  return false;
}

bool SpecialMatcher::find(std::span<const uint8_t> text, size_t from, const SpecialPolicy& policy,
                          SpecialMatch& out) const {
  if (tokens_.empty()) return false;
  const uint8_t* base = text.data();
  const size_t n = text.size();
  size_t q = from;
  while (q < n) {
    if (single_first_byte_ >= 0) {
      const void* hit = std::memchr(base + q, single_first_byte_, n - q);
      if (!hit) return false;
      q = static_cast<size_t>(static_cast<const uint8_t*>(hit) - base);
    } else {
      while (q < n && !first_byte_[base[q]]) ++q;
      if (q == n) return false;
    }
    // Walk the trie; remember the longest allowed and whether any disallowed special matches here.
    uint32_t node = 0;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t k = q; k < n; ++k) {
      int32_t c = child(node, base[k]);
      if (c < 0) break;
      node = static_cast<uint32_t>(c);
      int32_t t = nodes_[node].terminal;
      if (t < 0) continue;
      SpecialUse u = use(policy, static_cast<uint32_t>(t));
      if (u == SpecialUse::disallowed) {
        out = SpecialMatch{q, k + 1, static_cast<uint32_t>(t), true};
        return true;
      }
      if (u == SpecialUse::allowed) best = t, best_end = k + 1;
    }
    if (best >= 0) {
      size_t start = q, end = best_end;
      const SpecialToken& tok = tokens_[static_cast<size_t>(best)];
      if (tok.lstrip)
        while (start > from) {
          size_t w = whitespace_before(text, start);
          if (!w || start - w < from) break;
          start -= w;
        }
      if (tok.rstrip)
        while (size_t w = whitespace_at(text, end)) end += w;
      out = SpecialMatch{start, end, static_cast<uint32_t>(best), false};
      return true;
    }
    ++q;
  }
  return false;
}

size_t SpecialMatcher::partial_tail(std::span<const uint8_t> text) const {
  const size_t n = text.size();
  if (tokens_.empty()) return n;
  size_t q = n >= max_len_ ? n - max_len_ + 1 : 0;
  for (; q < n; ++q) {
    if (!first_byte_[text[q]]) continue;
    uint32_t node = 0;
    size_t k = q;
    for (; k < n; ++k) {
      int32_t c = child(node, text[k]);
      if (c < 0) break;
      node = static_cast<uint32_t>(c);
    }
    if (k == n && nodes_[node].n_edges > 0) {
      if (any_lstrip_)
        while (size_t w = whitespace_before(text, q)) q -= w;
      return q;
    }
  }
  return n;
}

}  // namespace blt::bpe
