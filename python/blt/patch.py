"""BLT patching: patchers (:mod:`blt.patcher`: static, byte, space, BPE delimiter, entropy), a CPU
byte n-gram entropy model (:mod:`blt.entropy_model`) and hashed byte n-gram ids
(:mod:`blt.ngram_hash`), all computed per sequence by the native core. This module gathers them.

Ids are BLT byte ids (``ByteTokenizer``: BOS=1, EOS=2, BPE delimiter=3, byte + 4). Raw bytes or
``str`` given where ids are expected are first encoded with ``ByteTokenizer()`` (BOS and EOS
added).

Where this differs from facebookresearch/blt ``bytelatent/data/patcher.py`` (on purpose):

- every sequence of a batch is patched on its own (the reference flattens batches for the
  entropy model, so sequences leak into each other, blt #123);
- ``force_boundaries=True`` (default): a BOS inside a sequence is a patch of its own and an EOS
  ends a patch (blt #36); pass ``force_boundaries=False`` for the reference's output;
- ``static``: BOS is a patch of its own like in every other rule, then fixed-size patches
  (the reference's static mode has no BOS patch);
- top-k (``threshold=None``): equal entropies are taken earliest first (``torch.topk`` leaves
  ties unspecified), and only positions inside the patched range are candidates (the
  reference can pick the position after the end without ``include_next_token``, which gives an
  empty patch that it then drops);
- the entropy model is a CPU byte n-gram model (``EntropyModel``), not a transformer; entropies
  from any model can be used through ``Patcher.from_entropies``.

>>> import blt
>>> blt.Patcher.space().patch(b"hi there").tolist()
[1, 3, 6]
"""

from __future__ import annotations

from ._blt_ids import BOS, EOS, MAX_ID
from ._patch_inputs import DEFAULT_RESET
from .entropy_model import EntropyModel
from .ngram_hash import NGRAM_HASH_PRIMES, hash_ngrams
from .patcher import DEFAULT_THRESHOLD, Patcher, PatchStream

__all__ = ["Patcher", "PatchStream", "EntropyModel", "hash_ngrams", "NGRAM_HASH_PRIMES", "DEFAULT_THRESHOLD",
           "DEFAULT_RESET", "BOS", "EOS", "MAX_ID"]
