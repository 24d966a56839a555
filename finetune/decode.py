"""Generated tokens as text without a detokeniser's clean-up, and the stop rule of each prompt format, so that an
answer is parsed and cut on what its tokens say, for every tokenizer family.

Byte-level BPE (GPT-2, SmolLM2) and SentencePiece (Llama, Mistral) decode losslessly: the answer text is
`decode(ids)` without clean-up. A Moses + BPE tokenizer (BioGPT) is lossy twice: its tokenizer drops newlines (they
are whitespace to Moses), and its detokeniser re-spaces punctuation (`"IL-6 : B"` -> `"IL-6: B"`, `"###"` ->
`"# # #"`, a `")"` glued to the word before). Its answer text is the Moses tokens joined by spaces, with Moses' own
escapes undone (`&amp;` -> `&`, `a @-@ b` -> `a-b`) and no other re-spacing: `"IL-6 : B ( : O"`. Which case a
tokenizer is in is found once per tokenizer by a probe, not by its family's name.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import cached_property

_PROBE = "IL-6 : B-X\n( : O\n\" : O\nb's : I\n\n### Output:"
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Plan:
    moses: object | None  # the Moses detokeniser whose escapes are undone, for a lossy Moses tokenizer
    newlines: bool  # whether a newline survives encoding


def _plan(tokenizer) -> _Plan:
    """How to read a tokenizer's ids as text, found once per tokenizer: does `decode` give the probe back?"""
    try:
        return _CACHE[tokenizer]
    except (KeyError, TypeError):
        pass
    ids = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    moses = None
    if tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) != _PROBE and \
            hasattr(tokenizer, "moses_detokenize"):
        import sacremoses

        moses = sacremoses.MosesDetokenizer(lang=getattr(tokenizer, "lang", "en"))
    plan = _Plan(moses, newlines="\n" in _text(tokenizer, ids, _Plan(moses, newlines=True)))
    try:
        _CACHE[tokenizer] = plan
    except TypeError:
        pass
    return plan


def _text(tokenizer, ids, plan: _Plan) -> str:
    if plan.moses is None:
        return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    pieces = tokenizer.convert_ids_to_tokens(list(ids), skip_special_tokens=True)
    text = " ".join("".join(piece.replace("</w>", " ") for piece in pieces).split())
    pattern, joined = plan.moses.AGGRESSIVE_HYPHEN_SPLIT  # "a @-@ b" -> "a-b", as Moses split it
    return plan.moses.unescape_xml(pattern.sub(joined, text))


def answer_text(tokenizer, ids) -> str:
    """The text of token ids as the tokens write it: the tokenizer's own decoding without clean-up, or for a Moses
    tokenizer its tokens joined by spaces with Moses' escapes undone (see the module docstring). Special tokens are
    left out."""
    return _text(tokenizer, ids, _plan(tokenizer))


def writes_newlines(tokenizer) -> bool:
    """Whether a newline survives the tokenizer (False for Moses + BPE: a line-per-word answer comes back as one
    line, which `bioprobe.tasks.ner.parse` then reads with `flat=True`)."""
    return _plan(tokenizer).newlines


@dataclass(frozen=True)
class StopRule:
    """Where a generated answer ends, by its prompt format.

    Attributes:
        texts: Strings that end an answer where they begin (matched in `answer_text`, whitespace between their
            characters allowed: BioGPT writes "###" as "# # #"); `###` for the Llama2-MedTuned and plain formats,
            where the model goes on to another section; none for a chat template, whose turns end with a token.
        ids: Token ids that end an answer (EOS, a chat template's end-of-turn token); they are not part of it.
    """

    texts: tuple[str, ...] = ()
    ids: frozenset[int] = frozenset()

    @cached_property
    def pattern(self) -> re.Pattern | None:
        """A regex matching any stop text (None when there is none)."""
        if not self.texts:
            return None
        return re.compile("|".join(r"\s*".join(map(re.escape, text)) for text in self.texts))

    def index(self, text: str) -> int | None:
        """Where the first stop text begins in `text`, or None."""
        found = self.pattern.search(text) if self.pattern is not None else None
        return found.start() if found else None


SECTION = "###"
"""Where the Llama2-MedTuned and plain formats begin their next section (`### Instruction`, `### User`)."""


def stop_rule(tokenizer, template: str) -> StopRule:
    """The stop rule of a prompt format: EOS always; `###` for "medtuned" and "plain"; for "chat" the chat template's
    own end of an assistant turn (the token it writes after the answer, e.g. `<|im_end|>`, often EOS itself).

    Args:
        tokenizer: The model's tokenizer.
        template: "medtuned", "plain" or "chat".
    """
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    if template != "chat":
        return StopRule((SECTION,), frozenset(ids))
    texts: tuple[str, ...] = ()
    marker = "\ue000"  # in no template
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "?"},
                                              {"role": "assistant", "content": marker}], tokenize=False)
    end = rendered.split(marker, 1)[1].strip() if marker in rendered else ""
    if end:
        end_ids = tokenizer(end, add_special_tokens=False)["input_ids"]
        if len(end_ids) == 1:
            ids.add(end_ids[0])
        else:
            texts = (end,)
    return StopRule(texts, frozenset(ids))
