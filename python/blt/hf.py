"""transformers classes for bltok: any byte-level BPE vocabulary as a ``PreTrainedTokenizerFast``
(:func:`bpe_to_transformers`, also ``BPETokenizer.to_transformers()``) and :class:`BltTokenizer`,
a ``PreTrainedTokenizer`` for the BLT byte ids, so ``AutoTokenizer``-style code
(``tok(texts, padding=True, truncation=True, return_tensors="np")``, ``save_pretrained`` /
``from_pretrained``) works with either. Needs ``transformers`` (``pip install bltok[hf]``).
The batched ``datasets.map`` function is :class:`blt.hf_datasets.TokenizeBatch`.

>>> from blt.hf import BltTokenizer
>>> tok = BltTokenizer()
>>> tok(["Hi", "Hey"], padding=True)["input_ids"]
[[1, 76, 109, 2, 0], [1, 76, 105, 125, 2]]
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, List, Literal, Optional, Protocol, Tuple

from tokenizers import AddedToken
from transformers import PreTrainedTokenizer, PreTrainedTokenizerFast

from . import _blt_ids as ids

__all__ = ["BltTokenizer", "bpe_to_transformers"]


class SavesHF(Protocol):
    """What :func:`bpe_to_transformers` needs of a tokenizer (``BPETokenizer`` has it)."""

    @property
    def special_tokens(self) -> Dict[str, int]: ...

    def save(self, path: str, format: Literal["tiktoken", "hf", "gpt2"] = "tiktoken") -> None: ...


def bpe_to_transformers(tok: SavesHF, *, pad_token: Optional[str] = None, model_max_length: Optional[int] = None
                        ) -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` with ``tok``'s ids, special tokens and offsets.

    Special-token text in the input becomes its id (transformers' rule: ``allowed_special="all"``).
    ``<|endoftext|>``, when the vocabulary has it, is the eos token and, unless ``pad_token``
    names another special, also the padding token. Offsets are character spans of the input.

    >>> import blt
    >>> fast = blt.get_encoding("cl100k_base", vocab_dir=VOCAB_DIR).to_transformers()
    >>> enc = fast(["hello world", "hi"], padding=True, return_offsets_mapping=True)
    >>> enc["input_ids"], enc["attention_mask"], enc["offset_mapping"][0]
    ([[15339, 1917], [6151, 100257]], [[1, 1], [1, 0]], [(0, 5), (5, 11)])
    """
    specials = tok.special_tokens
    eos = "<|endoftext|>" if "<|endoftext|>" in specials else None
    pad = pad_token if pad_token is not None else eos
    if pad is not None and pad not in specials:
        raise ValueError(f"pad_token {pad!r} is not a special token of this vocabulary ({sorted(specials)})")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tokenizer.json")
        tok.save(path, format="hf")
        kwargs: Dict[str, Any] = {"tokenizer_file": path, "eos_token": eos, "pad_token": pad,
                                  "clean_up_tokenization_spaces": False}
        if model_max_length is not None:
            kwargs["model_max_length"] = model_max_length
        return PreTrainedTokenizerFast(**kwargs)  # type: ignore[no-untyped-call]


_NAMES = {ids.BOE: "<boe>", ids.BOS: "<s>", ids.EOS: "</s>", ids.BPE_DELIM: "<bpe>",
          **{i: f"<meta:{name}>" for name, i in ids.META_IDS.items()}}


class BltTokenizer(PreTrainedTokenizer):
    """The BLT byte ids as a transformers tokenizer: byte ``b`` is id ``b + 4``; ``<s>`` (1)
    starts and ``</s>`` (2) ends each sequence (``add_bos``/``add_eos``), ``<boe>`` (0) pads.
    Ids equal ``blt.ByteTokenizer().encode(text)``; special-token text in the input stays bytes.
    A pair is ``<s> A </s> B </s>``. There is no vocabulary file: ``save_pretrained`` writes only
    the configuration. Offsets need a fast tokenizer, which transformers does not make of this.

    >>> from blt.hf import BltTokenizer
    >>> BltTokenizer()("é<s>")["input_ids"]
    [1, 199, 173, 64, 119, 66, 2]
    """

    vocab_files_names: Dict[str, str] = {}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, bos_token: str = "<s>", eos_token: str = "</s>", pad_token: str = "<boe>",
                 add_bos: bool = True, add_eos: bool = True, **kwargs: Any) -> None:
        """See the class; ``kwargs`` go to ``PreTrainedTokenizer`` (``model_max_length``,
        ``padding_side``, ...).

        >>> BltTokenizer(add_bos=False).decode([76, 109, 2])
        'Hi</s>'
        """
        self.add_bos = add_bos
        self.add_eos = add_eos
        self._added_tokens_decoder = {i: AddedToken(name, special=True, normalized=False)
                                      for i, name in _NAMES.items()}
        kwargs.setdefault("split_special_tokens", True)  # "<s>" in a text is its three bytes
        super().__init__(bos_token=bos_token, eos_token=eos_token, pad_token=pad_token,  # type: ignore[no-untyped-call]
                         add_bos=add_bos, add_eos=add_eos, **kwargs)

    @property
    def vocab_size(self) -> int:
        """Every BLT id: specials, the 256 bytes, the content-type meta ids.

        >>> BltTokenizer().vocab_size
        265
        """
        return ids.MAX_ID + 1

    def get_vocab(self) -> Dict[str, int]:
        """Token string -> id: byte ``b`` is ``chr(b)``, specials by name.

        >>> BltTokenizer().get_vocab()["A"], BltTokenizer().get_vocab()["</s>"]
        (69, 2)
        """
        vocab = {chr(b): b + ids.OFFSET for b in range(256)}
        vocab.update({name: i for i, name in _NAMES.items()})
        return vocab

    def _tokenize(self, text: str, **kwargs: Any) -> List[str]:
        return [chr(b) for b in text.encode("utf-8", "surrogatepass")]

    def _convert_token_to_id(self, token: str) -> int:
        if len(token) == 1 and ord(token) < 256:
            return ord(token) + ids.OFFSET
        found = self.get_vocab().get(token)
        if found is None:
            raise KeyError(f"{token!r} is not a BLT token")
        return found

    def _convert_id_to_token(self, index: int) -> str:
        if ids.OFFSET <= index < ids.OFFSET + 256:
            return chr(index - ids.OFFSET)
        name = _NAMES.get(index)
        if name is None:
            raise IndexError(f"{index} is not a BLT id (0..{ids.MAX_ID})")
        return name

    def convert_tokens_to_string(self, tokens: List[str]) -> str:
        """Text of tokens: the bytes of byte tokens (invalid UTF-8 replaced), specials by name.

        >>> BltTokenizer().convert_tokens_to_string(["<s>", "\\xc3", "\\xa9"])
        '<s>é'
        """
        out = bytearray()
        for t in tokens:
            out += bytes([ord(t)]) if len(t) == 1 and ord(t) < 256 else t.encode("utf-8")
        return out.decode("utf-8", errors="replace")

    def build_inputs_with_special_tokens(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None) -> List[int]:
        """``<s> A </s>`` (and ``B </s>`` for a pair), as ``add_bos``/``add_eos`` say.

        >>> BltTokenizer().build_inputs_with_special_tokens([76], [77])
        [1, 76, 2, 77, 2]
        """
        bos = [ids.BOS] if self.add_bos else []
        eos = [ids.EOS] if self.add_eos else []
        out = bos + token_ids_0 + eos
        return out if token_ids_1 is None else out + token_ids_1 + eos

    def get_special_tokens_mask(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None,
                                already_has_special_tokens: bool = False) -> List[int]:
        """1 where :meth:`build_inputs_with_special_tokens` puts a special id, else 0.

        >>> BltTokenizer().get_special_tokens_mask([76, 77])
        [1, 0, 0, 1]
        """
        if already_has_special_tokens:
            return [1 if i in _NAMES else 0 for i in token_ids_0 + (token_ids_1 or [])]
        mask = self.build_inputs_with_special_tokens([-1] * len(token_ids_0),
                                                     None if token_ids_1 is None else [-1] * len(token_ids_1))
        return [0 if i == -1 else 1 for i in mask]

    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str, ...]:
        """Nothing to write: the BLT ids are fixed.

        >>> BltTokenizer().save_vocabulary("unused")
        ()
        """
        return ()
