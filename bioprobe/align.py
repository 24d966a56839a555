"""Word alignment: the one place where words (e.g. CoNLL tokens) become subword input ids.

`encode_words(tokenizer, words)` returns the model's input ids (special tokens included) and, for
every word, the half-open span ``[start, end)`` of its subwords in those ids, so spans index the
model's input positions directly. `first_subword_labels` turns word labels into per-id labels
(the label on each word's first subword, `ignore_index` elsewhere).

How it works. Each word is tokenized on its own, in the form it takes inside running text, and
the pieces are concatenated; the tokenizer's own special tokens are then put around them. This
needs no ``word_ids()`` (the slow BioGPT tokenizer has none) and is the same for every family:

- WordPiece (BERT): the word alone; its pieces equal those it gets in a sentence, since the
  pre-tokenizer splits at whitespace and punctuation anyway.
- Byte-level BPE (GPT-2, SmolLM2, ...): every word, the first one included, is encoded with a
  leading space (``Ġ``) -- ``add_prefix_space`` semantics, as Hugging Face does for
  ``is_split_into_words=True`` -- whether or not the tokenizer was loaded with
  ``add_prefix_space``, so the ids never depend on that flag and a word gets the same pieces
  wherever it stands.
- SentencePiece (Llama, Mistral): the word alone; the ``▁`` the tokenizer prepends is the one
  the word gets after a space in a sentence (also for the first word).
- Moses + BPE (BioGPT, slow tokenizer): the word alone, through Moses and BPE.

Which of "word" or " word" reproduces the in-sentence pieces is not hard-coded per family: it is
found once per tokenizer by comparing, for a few probe words, the pieces of the word alone with
its pieces after another word. The special-token layout (prefix and suffix ids around one
sequence, e.g. ``[CLS] … [SEP]``, ``<s> …``, ``</s> …`` or nothing) is likewise read once from
``tokenizer("x")`` versus ``tokenizer("x", add_special_tokens=False)``.

Compared with ``tokenizer(" ".join(words))`` the ids are identical for typical sentences for
WordPiece, SentencePiece (Llama/Mistral) and BioGPT, and for byte-level BPE loaded with
``add_prefix_space=True``; a byte-level BPE tokenizer loaded without it differs only in the first
word (``"ĠIL"`` here, ``"IL"`` there). Rare differences elsewhere come from context the joined
string has and a lone word lacks (e.g. Moses keeping a word-final period of ``"cells."`` when a
lowercase word follows).

Edge cases:
- A word's text is always text: a word that spells a special token (``"<s>"``, ``"[CLS]"``) is
  tokenized as characters (``split_special_tokens=True``), never turned into the special id.
- A word with no pieces at all (``""``, or a character the normalizer deletes, like a soft
  hyphen or zero-width space for BERT) gets exactly one piece, the unk token (eos, then bos, for
  a tokenizer without one), so no word is lost and every kept word's span is non-empty.
- Truncation (``max_length``, special tokens counted and always kept) cuts whole words from the
  end: a word is kept only if all its pieces fit, and once one word does not fit, it and every
  word after it get span ``None``.

Speed: word -> ids is cached per tokenizer (up to 200,000 words, then the cache starts over; it is
rebuilt if tokens are added to the tokenizer). The special-token layout and the word form are
also read once per tokenizer: changing, say, ``add_bos_token`` on a tokenizer after its first
use here is not seen -- load a new tokenizer instead. A fast tokenizer is called at most once per
sentence, on all of its words not yet cached; a slow one once per word not yet cached.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from bioprobe.errors import BioprobeError

__all__ = ["WordEncoding", "encode_words", "first_subword_labels", "special_tokens", "structural_special_ids"]

# Probe words for finding the in-sentence form of a word: letters, a hyphenated word, punctuation,
# a digit, a capitalised word.
_PROBES = ("cells", "IL-2", "(", "5", "Protein")
_CONTEXT = "x"  # the word a probe follows
_CACHE_MAX = 200_000  # words cached per tokenizer


@dataclass(frozen=True)
class WordEncoding:
    """Input ids of one sentence and, per input word, the span of its subwords in them.

    ``spans[i]`` is ``(start, end)`` with ``input_ids[start:end]`` the pieces of word ``i``
    (``end > start``), or ``None`` when truncation cut word ``i``; ``n_truncated_words`` counts those.
    """

    input_ids: list[int]
    spans: list[tuple[int, int] | None]
    n_truncated_words: int


@dataclass
class _Plan:
    """What `encode_words` learns once per tokenizer."""

    word_prefix: str  # "" or " ": what goes before each word
    prefix_ids: list[int]  # special tokens before the sequence
    suffix_ids: list[int]  # special tokens after it
    empty_word_ids: list[int]  # the pieces of a word that has none
    fast: bool
    n_tokens: int  # len(tokenizer) when the plan was made: added tokens invalidate it
    cache: dict[str, list[int]]  # word -> its ids


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _encode_text(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def _find(haystack: list[int], needle: list[int]) -> int:
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i:i + len(needle)] == needle:
            return i
    return -1


def _special_layout(tokenizer) -> tuple[list[int], list[int]]:
    plain = list(tokenizer("x", add_special_tokens=False)["input_ids"])
    full = list(tokenizer("x", add_special_tokens=True)["input_ids"])
    at = _find(full, plain) if plain else -1
    if at < 0:
        raise BioprobeError(
            f"Cannot tell where {type(tokenizer).__name__} puts its special tokens: "
            f"'x' is {full} with them and {plain} without."
        )
    return full[:at], full[at + len(plain):]


def _word_prefix(tokenizer) -> str:
    context = _encode_text(tokenizer, _CONTEXT)
    score = {"": 0, " ": 0}
    for probe in _PROBES:
        in_sentence = _encode_text(tokenizer, f"{_CONTEXT} {probe}")
        if in_sentence[:len(context)] != context:
            continue
        in_sentence = in_sentence[len(context):]
        for prefix in score:
            score[prefix] += _encode_text(tokenizer, prefix + probe) == in_sentence
    return "" if score[""] >= score[" "] else " "


def _plan(tokenizer) -> _Plan:
    n_tokens = len(tokenizer)
    try:
        plan = _PLANS[tokenizer]
    except (KeyError, TypeError):
        plan = None
    if plan is not None and plan.n_tokens == n_tokens:
        return plan
    prefix_ids, suffix_ids = _special_layout(tokenizer)
    for fallback in (tokenizer.unk_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id):
        if fallback is not None:
            break
    else:
        raise BioprobeError(f"{type(tokenizer).__name__} has no unk, eos or bos token to stand for an empty word.")
    plan = _Plan(
        word_prefix=_word_prefix(tokenizer),
        prefix_ids=prefix_ids,
        suffix_ids=suffix_ids,
        empty_word_ids=[fallback],
        fast=bool(getattr(tokenizer, "is_fast", False)),
        n_tokens=n_tokens,
        cache={},
    )
    try:
        _PLANS[tokenizer] = plan
    except TypeError:  # not weak-referenceable: no caching, still correct
        pass
    return plan


def _word_pieces(tokenizer, plan: _Plan, words: Sequence[str]) -> list[list[int]]:
    cache = plan.cache
    missing = list(dict.fromkeys(w for w in words if w not in cache))
    if missing:
        if len(cache) + len(missing) > _CACHE_MAX:
            cache.clear()
        texts = [plan.word_prefix + w for w in missing]
        if plan.fast:  # one call for all new words of the sentence
            found = tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        else:
            found = [_encode_text(tokenizer, t) for t in texts]
        for w, ids in zip(missing, found):
            cache[w] = list(ids) if ids else plan.empty_word_ids
    return [cache[w] for w in words]


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after one sequence (e.g. `[CLS]` / `[SEP]`, `<s>` / nothing)."""
    plan = _plan(tokenizer)
    return list(plan.prefix_ids), list(plan.suffix_ids)


def structural_special_ids(tokenizer) -> set[int]:
    """The ids of the structural special tokens: those the tokenizer itself adds around a sequence or a pair.

    That is `[CLS]` / `[SEP]` for BERT, `<s>` for Llama and Mistral, `</s>` for BioGPT, nothing for GPT-2: the
    positions that are no part of the text. Read from the tokenizer's own template (the special-tokens mask of
    `tokenizer("x")` and `tokenizer("x", "y")`), never from `all_special_ids`, which also lists `[UNK]`, `[MASK]`
    and the pad token: an `[UNK]` (or a `[MASK]`) stands for a word of the text and is a word position, and a
    decoder's pad token is often its EOS. This is the one rule for "special token" in the analyses: the
    Integrated Gradients baseline keeps exactly these ids, and the attention "special" mass is the mass on them.
    """
    found: set[int] = set()
    for texts in (("x",), ("x", "y")):
        encoded = tokenizer(*texts, return_special_tokens_mask=True)
        found.update(i for i, added in zip(encoded["input_ids"], encoded["special_tokens_mask"]) if added)
    return found


def encode_words(
    tokenizer,
    words: Sequence[str],
    max_length: int | None = None,
    add_special_tokens: bool = True,
) -> WordEncoding:
    """Tokenize pre-split `words` into input ids, recording each word's span of subwords.

    `tokenizer` is any Hugging Face tokenizer (fast or slow). With `add_special_tokens` the ids
    carry the tokenizer's own special tokens for one sequence, and spans count them. With
    `max_length`, the ids are at most that long: special tokens are always kept and whole words
    are cut from the end (span ``None``). See the module docstring for the exact rules.
    """
    if isinstance(words, str):
        raise TypeError("encode_words takes a sequence of words, not one string")
    plan = _plan(tokenizer)
    prefix, suffix = (plan.prefix_ids, plan.suffix_ids) if add_special_tokens else ([], [])
    budget = None
    if max_length is not None:
        budget = max_length - len(prefix) - len(suffix)
        if budget < 0:
            raise BioprobeError(
                f"max_length {max_length} is shorter than the {len(prefix) + len(suffix)} special tokens "
                f"{type(tokenizer).__name__} adds."
            )
    input_ids = list(prefix)
    spans: list[tuple[int, int] | None] = []
    n_cut = 0
    limit = None if budget is None else len(prefix) + budget
    for pieces in _word_pieces(tokenizer, plan, words):
        start = len(input_ids)
        if n_cut or (limit is not None and start + len(pieces) > limit):
            n_cut += 1
            spans.append(None)
            continue
        input_ids.extend(pieces)
        spans.append((start, len(input_ids)))
    input_ids.extend(suffix)
    return WordEncoding(input_ids=input_ids, spans=spans, n_truncated_words=n_cut)


def first_subword_labels(encoding: WordEncoding, word_labels: Sequence[int], ignore_index: int = -100) -> list[int]:
    """One label per input id: word ``i``'s label on its first subword, `ignore_index` everywhere else.

    Special tokens, continuation pieces and truncated words get `ignore_index`.
    """
    if len(word_labels) != len(encoding.spans):
        raise ValueError(f"{len(word_labels)} labels for {len(encoding.spans)} words")
    labels = [ignore_index] * len(encoding.input_ids)
    for span, label in zip(encoding.spans, word_labels):
        if span is not None:
            labels[span[0]] = label
    return labels
