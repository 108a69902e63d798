"""Cheap, deterministic language identification (the model is English-only).

Short texts (fewer than ``min_words_for_detector`` words) are judged by script and
English stopwords alone, because statistical detectors are unreliable on a few words;
longer texts go to ``langdetect`` with a fixed seed. A text in which English stopwords
make up at least ``english_stopword_ratio`` of the words is English whatever the detector
says, and English wins when langdetect gives it at least ``english_min_probability`` (it often calls
terse English comments Danish or Dutch). Text with no letters
(numbers, emoji) has no language and is not flagged as non-English.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from civility.model.scoring_config import LanguageConfig, load_scoring_config

ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "don't",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "him",
        "his",
        "how",
        "i",
        "i'm",
        "if",
        "in",
        "into",
        "is",
        "it",
        "it's",
        "its",
        "just",
        "like",
        "me",
        "more",
        "my",
        "no",
        "not",
        "now",
        "of",
        "on",
        "one",
        "only",
        "or",
        "our",
        "out",
        "over",
        "really",
        "she",
        "should",
        "so",
        "some",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "too",
        "up",
        "us",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "you're",
    ]
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")

_lock = threading.Lock()


@dataclass(frozen=True)
class Language:
    code: str | None  # ISO 639-1 code, or None when undetermined
    english: bool


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if c.isascii()) / len(letters)


def _langdetect(text: str, config: LanguageConfig) -> str | None:
    """The most likely language, except that English wins whenever it is a real candidate."""
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    with _lock:  # langdetect's factory is a lazily initialised global
        DetectorFactory.seed = config.seed
        try:
            candidates = detect_langs(text)
        except LangDetectException:
            return None
    if not candidates:
        return None
    if any(c.lang == "en" and c.prob >= config.english_min_probability for c in candidates):
        return "en"
    return str(candidates[0].lang)


def detect_language(text: str, config: LanguageConfig | None = None) -> Language:
    """Detect the language of ``text``; ``english`` is False only when it is clearly not English."""
    config = config or load_scoring_config().language
    words = [w.lower().replace("’", "'") for w in _WORD.findall(text)]
    if not words:
        return Language(code=None, english=True)
    stopword_ratio = sum(1 for w in words if w in ENGLISH_STOPWORDS) / len(words)
    if stopword_ratio >= config.english_stopword_ratio:
        return Language(code="en", english=True)
    latin = _latin_share(text)
    if len(words) < config.min_words_for_detector and latin > 0.5:
        # A few Latin-script words without English stopwords: too little evidence to call it foreign.
        return Language(code="en" if latin == 1.0 else None, english=True)
    code = _langdetect(text, config)
    if code is None:
        return Language(code=None, english=True)
    return Language(code=code, english=code == "en")
