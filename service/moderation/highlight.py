"""Split a comment into plain and highlighted segments (from stored spans and word-list hits).

Templates render each segment as escaped text, wrapping highlighted ones in ``<mark>``; no
comment text is ever marked safe.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Segment:
    text: str
    labels: tuple[str, ...] = ()
    score: float = 0.0

    @property
    def highlighted(self) -> bool:
        return bool(self.labels)

    @property
    def title(self) -> str:
        return ", ".join(self.labels) + (f" ({self.score:.0%})" if self.score else "")


@dataclass
class _Mark:
    begin: int
    end: int
    label: str
    score: float = field(default=0.0)


def _marks(
    text: str, spans: Mapping[str, Sequence[Mapping[str, Any]]] | None, reasons: Iterable[Mapping[str, Any]]
) -> list[_Mark]:
    marks: list[_Mark] = []
    for label, label_spans in (spans or {}).items():
        for span in label_spans:
            marks.append(_Mark(int(span["begin"]), int(span["end"]), label, float(span.get("score") or 0.0)))
    for reason in reasons:
        begin, end = reason.get("begin"), reason.get("end")
        if isinstance(begin, int) and isinstance(end, int):
            marks.append(_Mark(begin, end, str(reason.get("code") or "term")))
    return [m for m in marks if 0 <= m.begin < m.end <= len(text)]


def segments(
    text: str,
    spans: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    reasons: Iterable[Mapping[str, Any]] = (),
) -> list[Segment]:
    """Non-overlapping segments covering ``text``; each highlighted one lists the labels over it."""
    marks = _marks(text, spans, reasons)
    if not marks:
        return [Segment(text)] if text else []
    cuts = sorted({0, len(text), *(m.begin for m in marks), *(m.end for m in marks)})
    result: list[Segment] = []
    for begin, end in itertools.pairwise(cuts):
        covering = [m for m in marks if m.begin <= begin and end <= m.end]
        labels = tuple(sorted({m.label for m in covering}))
        score = max((m.score for m in covering), default=0.0)
        previous = result[-1] if result else None
        if previous is not None and previous.labels == labels and previous.score == score:
            result[-1] = Segment(previous.text + text[begin:end], labels, score)
        else:
            result.append(Segment(text[begin:end], labels, score))
    return result
