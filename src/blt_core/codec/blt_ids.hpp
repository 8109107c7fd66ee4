// BLT ids as in facebookresearch/blt: the four special ids, the byte offset, the content-type meta
// ids after the byte ids, and the largest id. The one definition the codecs and patchers read.
#pragma once
#include <cstdint>

namespace blt {

inline constexpr uint32_t kBoeId = 0;       // begin of entity (unused by the codecs, reserved)
inline constexpr uint32_t kBosId = 1;       // begin of sequence
inline constexpr uint32_t kEosId = 2;       // end of sequence
inline constexpr uint32_t kBpeDelimId = 3;  // placed before each BPE token's bytes (bpe_delim)
inline constexpr uint32_t kByteOffset = 4;  // byte b has id b + kByteOffset

// Content type of a document, announced by a meta id right after BOS.
enum class ContentType : uint8_t { text = 0, audio = 1, image = 2, video = 3, bin = 4 };
inline constexpr uint32_t kFirstMetaId = 256 + kByteOffset;  // meta id of ContentType::text
inline constexpr uint32_t kMetaIdCount = 5;                  // one per ContentType
inline constexpr uint32_t kBltVocabSize = kFirstMetaId + kMetaIdCount;
inline constexpr uint32_t kMaxBltId = kBltVocabSize - 1;

inline constexpr uint32_t meta_id(ContentType t) { return kFirstMetaId + static_cast<uint32_t>(t); }

}  // namespace blt
