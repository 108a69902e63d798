"""Comments from saved text renderings of comment pages (browser "save as text", reader modes).

A rendering interleaves the comment thread with page furniture (teasers, podcasts, newsletter
boxes, the article itself). Comments are recognised by their block structure, configured per
site in ``configs/extract/sites.yaml``::

    <reply marker of the previous comment>? <avatar initial>? AUTHOR TIMESTAMP <nested marker>? VOTES?
    VOTES                      (when not on the header line)
    body paragraph(s)
    <votes line>?              (sites that print votes after the body)
    REPLY MARKER

A block only counts as a comment when it has a parseable timestamp and is closed by the site's
reply marker; the body stops at the first furniture line. Pages without comment blocks give
zero comments, never furniture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property

from civility.training.extract.records import RawComment, ThreadInfo
from civility.training.extract.settings import SitesConfig, TextProfile


@dataclass(frozen=True)
class TextExtraction:
    thread: ThreadInfo
    comments: list[RawComment]
    profile: str | None


class TextThreadReader:
    """Reads one site's text renderings, as described by a ``TextProfile``."""

    def __init__(self, profile: TextProfile) -> None:
        self.profile = profile

    @cached_property
    def _header(self) -> re.Pattern[str]:
        p = self.profile
        initial = r"(?:(?P<initial>\w)[ \t]+)?" if p.avatar_initial else ""
        nested = rf"(?:(?P<nested>{p.nested_marker})[ \t]*)?" if p.nested_marker else ""
        return re.compile(
            rf"^[ \t]*(?P<reply_prefix>(?:{p.reply_marker})[ \t]*)?{initial}{p.author}"
            rf"{p.header_separator}(?P<time>{p.timestamp.pattern})[ \t]*{nested}"
            rf"(?:(?P<votes>{p.votes})[ \t]*)?$",
            re.MULTILINE,
        )

    @cached_property
    def _reply_line(self) -> re.Pattern[str]:
        return re.compile(rf"^\s*(?:{self.profile.reply_marker})\s*$")

    @cached_property
    def _votes_alone(self) -> re.Pattern[str]:
        return re.compile(rf"^\s*(?P<votes>{self.profile.votes})\s*$")

    @cached_property
    def _votes_line(self) -> re.Pattern[str] | None:
        return re.compile(self.profile.votes_line) if self.profile.votes_line else None

    @cached_property
    def _furniture(self) -> list[re.Pattern[str]]:
        return [re.compile(pattern) for pattern in self.profile.furniture]

    def applies_to(self, text: str) -> bool:
        return not self.profile.detect or any(re.search(p, text) for p in self.profile.detect)

    def read(self, text: str) -> TextExtraction:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        headers = list(self._header.finditer(text))
        comments: list[RawComment] = []
        last_top_level: str | None = None
        for index, header in enumerate(headers):
            following = headers[index + 1] if index + 1 < len(headers) else None
            region = text[header.end() : following.start() if following else len(text)]
            closed_by_next = following is not None and following.group("reply_prefix") is not None
            comment = self._comment(header, region, closed_by_next, native_id=str(index))
            if comment is None:
                continue
            if header.groupdict().get("nested") and last_top_level is not None:
                comment = replace(comment, native_parent_id=last_top_level)
            else:
                last_top_level = comment.native_id
            comments.append(comment)
        return TextExtraction(self._thread(text), comments, self.profile.name)

    def _comment(
        self, header: re.Match[str], region: str, closed_by_next: bool, native_id: str
    ) -> RawComment | None:
        posted_at = self._parse_time(header.group("time"))
        if posted_at is None:
            return None
        votes = _to_int(header.group("votes"))
        paragraphs: list[list[str]] = [[]]
        closed = closed_by_next
        in_body = True
        for line in region.split("\n"):
            stripped = line.strip()
            if self._reply_line.match(line):
                closed = True
                break
            if not in_body:
                continue
            if not stripped:
                if paragraphs[-1]:
                    paragraphs.append([])
                continue
            if votes is None and not any(paragraphs) and (m := self._votes_alone.match(line)):
                votes = int(m.group("votes"))
                continue
            if self._votes_line is not None and (m := self._votes_line.match(stripped)):
                votes = votes if votes is not None else int(m.group("votes"))
                continue
            if any(pattern.search(stripped) for pattern in self._furniture):
                in_body = False  # a widget follows the comment; its reply marker may still come
                continue
            paragraphs[-1].append(stripped)
        body = "\n\n".join("\n".join(lines) for lines in paragraphs if lines)
        if not closed or not body:
            return None
        return RawComment(
            text=body,
            author=self._author(header),
            posted_at=posted_at,
            votes=votes,
            native_id=native_id,
        )

    def _author(self, header: re.Match[str]) -> str:
        author = " ".join(header.group("author").split())
        if self.profile.avatar_initial:
            # "D David Stael": the avatar's initial rendered inside the name.
            parts = author.split(" ", 1)
            if len(parts) == 2 and len(parts[0]) == 1 and parts[1][:1].casefold() == parts[0].casefold():
                author = parts[1]
        return author

    def _parse_time(self, printed: str) -> datetime | None:
        printed = " ".join(printed.split())
        for fmt in self.profile.timestamp.formats:
            try:
                return datetime.strptime(printed, fmt)
            except ValueError:
                continue
        return None

    def _thread(self, text: str) -> ThreadInfo:
        url = None
        if self.profile.url and (m := re.search(self.profile.url, text)):
            url = m.group("url")
        title = None
        for line in text.split("\n"):
            stripped = line.strip()
            if stripped and not any(re.search(p, stripped) for p in self.profile.title_skip):
                title = stripped
                break
        return ThreadInfo(url=url, title=title)


def read_text_thread(text: str, sites: SitesConfig, site: str | None = None) -> TextExtraction:
    """Extract comments from a text rendering.

    With ``site`` the named profile is used; otherwise every profile whose ``detect`` markers
    match is tried and the one that finds the most comments wins.
    """
    if site is not None:
        return TextThreadReader(sites.text_profile(site)).read(text)
    best: TextExtraction | None = None
    for profile in sites.text_renderings:
        reader = TextThreadReader(profile)
        if not reader.applies_to(text):
            continue
        result = reader.read(text)
        if best is None or len(result.comments) > len(best.comments):
            best = result
    if best is None or not best.comments:
        first_line = next((line.strip() for line in text.splitlines() if line.strip()), None)
        return TextExtraction(ThreadInfo(title=first_line), [], None)
    return best


def _to_int(value: str | None) -> int | None:
    return int(value) if value is not None else None
