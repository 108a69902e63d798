"""Lexicon and pattern matching on normalised text, aware of quotation and negation.

Text is first normalised with ``civility.model.normalize`` (leetspeak, spaced letters,
homoglyphs and zero-width characters undone) and lower-cased, so ``f u c k`` and ``1d10t``
match like the plain words. A match can then be silenced:

* inside quotation marks, for lexicons with ``quoted: ignore`` (reported speech and
  counter-speech: ``saying 'all X are vermin' is disgusting``);
* by a negation cue inside the match or within ``negation_window`` words before it in the
  same clause, for lexicons with ``negation: true`` (``I would never hurt you``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from civility.model.normalize import normalize
from civility.training.labeling.settings import LexiconFile, MatchingConfig

_LIST_REF = re.compile(r"\{([a-z_]+)\}")
_APOSTROPHE_IN_WORD = re.compile(r"(?<=\w)[’ʼ`´](?=\w)")
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    text: str


def prepare(text: str) -> str:
    """The text patterns are matched against: normalised, lower-cased, plain apostrophes."""
    text = _APOSTROPHE_IN_WORD.sub("'", normalize(text).text.casefold())
    return _SPACES.sub(" ", text)


class PhraseMatcher:
    """Matches one lexicon or pattern file."""

    def __init__(self, name: str, lexicon: LexiconFile, matching: MatchingConfig) -> None:
        self.name = name
        self.lexicon = lexicon
        self.matching = matching

    @cached_property
    def _patterns(self) -> list[re.Pattern[str]]:
        compiled = []
        if self.lexicon.words:
            words = sorted((re.escape(w.casefold()) for w in self.lexicon.words), key=len, reverse=True)
            compiled.append(re.compile(rf"\b(?:{'|'.join(words)}){self.matching.inflections}\b"))
        for pattern in self.lexicon.patterns:
            expanded = _LIST_REF.sub(self._expand, pattern)
            try:
                compiled.append(re.compile(expanded))
            except re.error as exc:
                raise ValueError(f"{self.name}: invalid pattern {pattern!r}: {exc}") from exc
        return compiled

    def _expand(self, ref: re.Match[str]) -> str:
        name = ref.group(1)
        if name not in self.lexicon.lists:
            raise ValueError(f"{self.name}: pattern refers to unknown list {{{name}}}")
        items = self.lexicon.lists[name]
        if isinstance(items, str):
            return items
        return "(?:" + "|".join(sorted(items, key=len, reverse=True)) + ")"

    @cached_property
    def _negation(self) -> re.Pattern[str]:
        return re.compile(self.matching.negation_cues)

    @cached_property
    def _clause_break(self) -> re.Pattern[str]:
        return re.compile(self.matching.clause_breaks)

    @cached_property
    def _quotes(self) -> list[re.Pattern[str]]:
        quotes = []
        for opening, closing in self.matching.quote_pairs:
            o, c = re.escape(opening), re.escape(closing)
            if opening == closing:
                quotes.append(re.compile(rf"(?<!\w){o}(?=\S)(.+?)(?<=\S){c}(?!\w)", re.DOTALL))
            else:
                quotes.append(re.compile(rf"{o}(.+?){c}(?!\w)", re.DOTALL))
        return quotes

    def find(self, text: str) -> list[Match]:
        """Matches that count (not quoted or negated, as the lexicon says)."""
        prepared = prepare(text)
        quoted = self._quoted_spans(prepared) if self.lexicon.quoted == "ignore" else []
        found: list[Match] = []
        for pattern in self._patterns:
            for m in pattern.finditer(prepared):
                if any(start <= m.start() and m.end() <= end for start, end in quoted):
                    continue
                if self.lexicon.negation and self._negated(prepared, m.start(), m.end()):
                    continue
                found.append(Match(m.start(), m.end(), m.group()))
        return found

    def fires(self, text: str) -> bool:
        return bool(self.find(text))

    def _quoted_spans(self, text: str) -> list[tuple[int, int]]:
        """Quoted passages; quotes around the whole comment are formatting, not a quotation."""
        first, last = len(text) - len(text.lstrip()), len(text.rstrip())
        return [
            (m.start(), m.end())
            for pattern in self._quotes
            for m in pattern.finditer(text)
            if not (m.start() <= first and m.end() >= last)
        ]

    def _negated(self, text: str, start: int, end: int) -> bool:
        if self._negation.search(text[start:end]):
            return True
        before = text[:start]
        breaks = list(self._clause_break.finditer(before))
        clause = before[breaks[-1].end() :] if breaks else before
        window = (
            " ".join(clause.split()[-self.matching.negation_window :])
            if self.matching.negation_window
            else ""
        )
        return bool(window and self._negation.search(window))
