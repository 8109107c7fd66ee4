"""A small, obviously correct BPE trainer in plain Python: the oracle for blt's native trainer.

It recounts every pair before every merge (no incremental bookkeeping), so it is slow and only
meant for small corpora. Rules (the documented ones of blt.train):
- a word's adjacent pairs are counted overlapping, weighted by the word's count;
- the pair with the highest count wins, ties going to the smallest (left_id, right_id);
- it is merged in every word left to right, non-overlapping;
- the merged bytes get a new id unless they already are a token;
- stop after max_new new tokens, or when the best count is below max(1, min_frequency).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, Tuple


def _gpt2_char(b: int) -> int:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    if b in printable:
        return b
    return 256 + sorted(set(range(256)) - set(printable)).index(b)


def byte_ids(hf_compatible: bool, n_specials: int) -> List[int]:
    """Id of each byte: b itself, or HF's layout (specials first, then code point order)."""
    if not hf_compatible:
        return list(range(256))
    order = sorted(range(256), key=_gpt2_char)
    ids = [0] * 256
    for i, b in enumerate(order):
        ids[b] = n_specials + i
    return ids


def train(
    counts: Dict[bytes, int],
    max_new: int,
    *,
    hf_compatible: bool = False,
    n_specials: int = 0,
    min_frequency: int = 0,
    max_token_length: Optional[int] = None,
) -> Tuple[List[Tuple[int, int, int]], Dict[int, bytes]]:
    ids = byte_ids(hf_compatible, n_specials)
    token: Dict[int, bytes] = {ids[b]: bytes([b]) for b in range(256)}
    by_bytes = {v: k for k, v in token.items()}
    next_id = (n_specials if hf_compatible else 0) + 256
    words = [[ids[b] for b in piece] for piece in counts]
    weights = list(counts.values())

    def eligible(a: int, b: int) -> bool:
        if max_token_length is None:
            return True
        la, lb = len(token[a]), len(token[b])
        if hf_compatible:  # HF: byte pairs always; pairs formed by merges only if shorter than the limit
            return (la == 1 and lb == 1) or la + lb < max_token_length
        return la + lb <= max_token_length

    merges: List[Tuple[int, int, int]] = []
    added = 0
    while added < max_new:
        pairs: Counter = Counter()
        for w, c in zip(words, weights):
            for x, y in zip(w, w[1:]):
                if eligible(x, y):
                    pairs[(x, y)] += c
        if not pairs:
            break
        (a, b), best = max(pairs.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
        if best < max(1, min_frequency):
            break
        merged = token[a] + token[b]
        out = by_bytes.get(merged)
        if out is None:
            out = next_id
            next_id += 1
            added += 1
            token[out] = merged
            by_bytes[merged] = out
        merges.append((a, b, out))
        for k, w in enumerate(words):
            i, new = 0, []
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    new.append(out)
                    i += 2
                else:
                    new.append(w[i])
                    i += 1
            words[k] = new
    return merges, token
