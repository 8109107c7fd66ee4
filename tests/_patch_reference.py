"""Plain NumPy transcriptions of the reference patching functions (facebookresearch/blt,
bytelatent/data/patcher.py), for one sequence at a time (batch size 1), written from their
documented behaviour. Used only by tests/test_patch*.py as the expected results."""

from __future__ import annotations

from typing import List, Optional

import numpy as np

OFFSET = 4
BPE_ID = 3
BOS, EOS = 1, 2


def start_mask_monotonicity(e: np.ndarray, t: float) -> np.ndarray:
    # patch_start_mask_from_entropy_with_monotonicity: first True, then diff > t
    mask = np.zeros(len(e), dtype=bool)
    if len(e):
        mask[0] = True
        mask[1:] = (e[1:] - e[:-1]) > t
    return mask


def start_mask_global_and_monotonicity(e: np.ndarray, t: float, t_add: float) -> np.ndarray:
    # patch_start_mask_global_and_monotonicity: the condition is and-ed with ~mask[:-1] taken
    # while only mask[0] is set, so mask[1] is always False.
    mask = np.zeros(len(e), dtype=bool)
    if len(e):
        mask[0] = True
        cond = ((e[1:] - e[:-1]) > t_add) & (e[1:] > t) & (~mask[:-1])
        mask[1:] = cond
    return mask


def topk_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values; equal values are taken earliest first."""
    k = max(0, min(k, len(values)))
    order = np.argsort(-values.astype(np.float64), kind="stable")
    return np.sort(order[:k])


def entropy_start_ids(H, patch_size=None, threshold=None, threshold_add=None,
                      monotonicity=False, include_next_token=False) -> np.ndarray:
    """find_entropy_patch_start_ids for one sequence. Top-k only considers positions inside the
    patched range (the reference can pick the position after the end without
    include_next_token, giving an empty patch that it then drops)."""
    H = np.asarray(H, dtype=np.float32)
    L = len(H)
    total = L + int(include_next_token)
    e = H[1:]
    if threshold is None:
        k = int(np.floor(L / patch_size)) - 2
        ids = topk_indices(e[: max(0, total - 2)], k)
    else:
        if monotonicity:
            mask = start_mask_monotonicity(e, threshold)
        elif threshold_add is not None:
            mask = start_mask_global_and_monotonicity(e, threshold, threshold_add)
        else:
            mask = e > threshold
        if not include_next_token:
            mask = mask[:-1]
        ids = np.nonzero(mask)[0]
    return np.concatenate([[0, 1], ids + 2]).astype(np.int64)


def space_start_ids(tokens) -> np.ndarray:
    """find_space_patch_start_ids for one sequence (positions 0..len)."""
    t = np.asarray(tokens, dtype=np.int64)
    b = t - OFFSET
    end = (
        (b < ord("0"))
        | ((ord("9") < b) & (b < ord("A")))
        | ((ord("Z") < b) & (b < ord("a")))
        | ((ord("z") < b) & (b < 0b1000_0000))
        | (0b1100_0000 <= b)
    )
    end[1:] &= ~end[:-1].copy()
    end |= t < OFFSET
    start = np.concatenate([[True, True], end[1:]])
    return np.nonzero(start)[0]


def bpe_start_ids(tokens) -> np.ndarray:
    """find_bpe_delim_patch_start_ids for one sequence."""
    t = np.asarray(tokens, dtype=np.int64)
    ids = np.nonzero(t[:-1] == BPE_ID)[0] + 1
    return np.concatenate([[0, 1], ids]).astype(np.int64)


def split_large_numbers(lst: List[int], m: int) -> List[int]:
    out = []
    for i in lst:
        while i > m:
            out.append(m)
            i -= m
        out.append(i)
    return out


def lengths_from_start_ids(start_ids, total: int, max_patch_length: Optional[int] = None) -> List[int]:
    """patch_lengths_from_start_ids, then the reference's trimming of empty patches and the
    max_patch_length split. Starts at or past the end are empty patches and are dropped."""
    s = sorted(set(int(x) for x in start_ids if int(x) < total))
    lengths = [b - a for a, b in zip(s, s[1:] + [total])]
    if max_patch_length:
        lengths = split_large_numbers(lengths, max_patch_length)
    return lengths


def hash_ngrams(ids, group_size: int, prime: int, max_hash: int) -> np.ndarray:
    """byte_group_hash_function + rolling_polynomial_hash for one sequence: int64 arithmetic
    that wraps (NumPy array ops wrap silently), then floored modulo."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    x = np.concatenate([np.zeros(group_size - 1, dtype=np.int64), np.asarray(ids, dtype=np.int64)])
    windows = np.lib.stride_tricks.sliding_window_view(x, group_size)
    powers = np.ones(group_size, dtype=np.int64)
    p = np.array([prime], dtype=np.int64)
    for i in range(1, group_size):
        powers[i] = (powers[i - 1 : i] * p)[0]
    with np.errstate(over="ignore"):
        h = (windows * powers).sum(axis=1, dtype=np.int64)
    return h % np.int64(max_hash)
