"""Comments from saved HTML comment pages.

Two strategies, both on a real HTML parser (selectolax / lexbor):

* a configured site (``configs/extract/sites.yaml``: ``html``) gives CSS selectors for the
  comment element and its fields;
* otherwise a generic fallback looks for a *repeated* element (same tag and classes, at least
  ``min_repeats`` times) that carries a date and some text, and reads author, time, votes and
  text from elements whose class names hint at them.

Replies are recognised by nesting: the parent of a comment is the closest enclosing comment
element (unless the site configures an explicit parent attribute).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from dateutil import parser as date_parser
from selectolax.lexbor import LexborHTMLParser, LexborNode

from civility.training.extract.records import RawComment, ThreadInfo
from civility.training.extract.settings import HtmlFallbackSettings, HtmlSite, SitesConfig

_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "ul", "ol"})
_NEVER_TEXT = frozenset({"script", "style", "noscript", "template", "svg", "button", "form", "textarea"})
_INT = re.compile(r"[+-]?\d[\d,]*")


@dataclass(frozen=True)
class HtmlExtraction:
    thread: ThreadInfo
    comments: list[RawComment]
    strategy: str  # the configured site's name, or "fallback"


def read_html_thread(
    html: str, sites: SitesConfig, fallback: HtmlFallbackSettings, site: str | None = None
) -> HtmlExtraction:
    """Extract the comments of an HTML page with the named or detected site's selectors,
    or with the generic repeated-block fallback."""
    tree = LexborHTMLParser(html)
    chosen = sites.html_site(site) if site else _detect_site(html, sites)
    thread = _thread_info(tree, chosen)
    if chosen is not None:
        return HtmlExtraction(thread, _SelectorReader(chosen).read(tree), chosen.name)
    return HtmlExtraction(thread, _FallbackReader(fallback).read(tree), "fallback")


def _detect_site(html: str, sites: SitesConfig) -> HtmlSite | None:
    for candidate in sites.html:
        if any(re.search(pattern, html) for pattern in candidate.detect):
            return candidate
    return None


def _thread_info(tree: LexborHTMLParser, site: HtmlSite | None) -> ThreadInfo:
    root = tree.root
    if root is None:
        return ThreadInfo()
    title_spec = site.title if site else "meta[property='og:title']@content"
    url_spec = site.url if site else "link[rel='canonical']@href"
    title = _field(root, title_spec) if title_spec else None
    if not title:
        title_node = tree.css_first("title") or tree.css_first("h1")
        title = _clean(title_node.text()) if title_node else None
    url = _field(root, url_spec) if url_spec else None
    if not url and (og_url := tree.css_first("meta[property='og:url']")):
        url = og_url.attributes.get("content")
    return ThreadInfo(url=url or None, title=title or None)


def _field(node: LexborNode, spec: str) -> str | None:
    """Read ``selector``, ``selector@attr`` or ``@attr`` relative to ``node``."""
    selector, _, attribute = spec.partition("@")
    target = node.css_first(selector) if selector else node
    if target is None:
        return None
    if attribute:
        value = target.attributes.get(attribute)
        return value.strip() if value else None
    return _clean(block_text(target))


def block_text(node: LexborNode, skip: Callable[[LexborNode], bool] | None = None) -> str:
    """Visible text of ``node`` with paragraph breaks kept, skipping scripts, buttons and
    any element for which ``skip`` returns true."""
    parts: list[str] = []

    def walk(current: LexborNode) -> None:
        for child in current.iter(include_text=True):
            if child.is_text_node:
                parts.append(child.text_content or "")
                continue
            if not child.is_element_node or child.tag in _NEVER_TEXT or (skip and skip(child)):
                continue
            block = child.tag in _BLOCK_TAGS
            if block:
                parts.append("\n\n")
            walk(child)
            if block:
                parts.append("\n\n")

    walk(node)
    paragraphs = ("".join(parts)).split("\n\n")
    return "\n\n".join(p for p in (" ".join(chunk.split()) for chunk in paragraphs) if p)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def _parse_time(value: str | None) -> datetime | None:
    return _parse_time_text(value.strip()) if value else None


@lru_cache(maxsize=4096)
def _parse_time_text(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        return date_parser.parse(value)
    except (ValueError, OverflowError):
        return None


def _parse_votes(value: str | None) -> int | None:
    if not value:
        return None
    match = _INT.search(value)
    return int(match.group().replace(",", "")) if match else None


class _SelectorReader:
    def __init__(self, site: HtmlSite) -> None:
        self.site = site

    def read(self, tree: LexborHTMLParser) -> list[RawComment]:
        nodes = tree.css(self.site.comment)
        members = {node.mem_id: str(index) for index, node in enumerate(nodes)}
        native_ids = {
            node.mem_id: (_OwnView(node, members).field(self.site.id) if self.site.id else None) or str(index)
            for index, node in enumerate(nodes)
        }
        comments = []
        for node in nodes:
            own = _OwnView(node, members)
            text_node = own.first(self.site.text)
            text = block_text(text_node, skip=own.is_foreign) if text_node else ""
            if not text:
                continue
            if self.site.parent_id:
                parent = own.field(self.site.parent_id)
            else:
                enclosing = _enclosing_member(node, members)
                parent = native_ids[enclosing.mem_id] if enclosing is not None else None
            comments.append(
                RawComment(
                    text=text,
                    author=own.field(self.site.author) if self.site.author else None,
                    posted_at=_parse_time(own.field(self.site.posted_at)) if self.site.posted_at else None,
                    votes=_parse_votes(own.field(self.site.votes)) if self.site.votes else None,
                    native_id=native_ids[node.mem_id],
                    native_parent_id=parent,
                )
            )
        return comments


class _OwnView:
    """A comment element's own descendants: nested replies (other comment elements) excluded."""

    def __init__(self, node: LexborNode, members: dict[int, str]) -> None:
        self.node = node
        self.members = members

    def is_foreign(self, candidate: LexborNode) -> bool:
        return candidate.mem_id in self.members and candidate.mem_id != self.node.mem_id

    def owns(self, candidate: LexborNode) -> bool:
        enclosing = candidate.parent
        while enclosing is not None and enclosing.mem_id != self.node.mem_id:
            if enclosing.mem_id in self.members:
                return False
            enclosing = enclosing.parent
        return True

    def first(self, selector: str) -> LexborNode | None:
        return next((c for c in self.node.css(selector) if self.owns(c) and not self.is_foreign(c)), None)

    def field(self, spec: str) -> str | None:
        """``selector``, ``selector@attr`` or ``@attr`` read from this comment's own elements."""
        selector, _, attribute = spec.partition("@")
        target = self.first(selector) if selector else self.node
        if target is None:
            return None
        if attribute:
            value = target.attributes.get(attribute)
            return value.strip() if value else None
        return _clean(block_text(target))


def _enclosing_member(node: LexborNode, members: dict[int, str]) -> LexborNode | None:
    current = node.parent
    while current is not None:
        if current.mem_id in members:
            return current
        current = current.parent
    return None


class _FallbackReader:
    """Finds repeated comment-like blocks when no site is configured for the page."""

    def __init__(self, settings: HtmlFallbackSettings) -> None:
        self.settings = settings
        self.date = re.compile(settings.date_pattern)
        self.author_hint = re.compile(settings.author_hint)
        self.votes_hint = re.compile(settings.votes_hint)
        self.text_hint = re.compile(settings.text_hint)
        self.noise_hint = re.compile(settings.noise_hint)

    def read(self, tree: LexborHTMLParser) -> list[RawComment]:
        body = tree.body
        if body is None:
            return []
        group = self._comment_group(body)
        if not group:
            return []
        members = {node.mem_id: str(index) for index, node in enumerate(group)}
        comments = []
        for index, node in enumerate(group):
            own = _OwnView(node, members)
            fields = self._fields(own)
            if fields is None:
                continue
            enclosing = _enclosing_member(node, members)
            comments.append(
                RawComment(
                    text=fields.text,
                    author=fields.author,
                    posted_at=fields.posted_at,
                    votes=fields.votes,
                    native_id=str(index),
                    native_parent_id=members[enclosing.mem_id] if enclosing is not None else None,
                )
            )
        return comments

    def _comment_group(self, body: LexborNode) -> list[LexborNode]:
        """The largest group of same-signature elements that all carry a date, an author and text;
        among equally large groups, the outermost (so replies nest inside their parents)."""
        groups: dict[tuple[str, tuple[str, ...]], list[LexborNode]] = defaultdict(list)
        for node in body.traverse():
            if node.is_element_node and node.tag not in _NEVER_TEXT:
                classes = tuple(sorted((node.attributes.get("class") or "").split()))
                groups[(node.tag or "", classes)].append(node)
        best: list[LexborNode] = []
        best_depth = 0
        for (_tag, classes), nodes in groups.items():
            if not classes or len(nodes) < self.settings.min_repeats or len(nodes) < len(best):
                continue
            if not all(self._has_text(n) and self._has_author(n) and self._has_date(n) for n in nodes):
                continue
            depth = min(_depth(n) for n in nodes)
            if len(nodes) > len(best) or depth < best_depth:
                best, best_depth = nodes, depth
        return best

    def _has_date(self, node: LexborNode) -> bool:
        """Cheap test (no parsing): a machine-readable time, or something that reads as a date."""
        if node.css_first("time, [datetime]") is not None:
            return True
        if any(self.date.search(n.attributes.get("title") or "") for n in node.css("[title]")):
            return True
        return self.date.search(node.text(separator=" ")) is not None

    def _has_author(self, node: LexborNode) -> bool:
        return next(self._hinted(_OwnView(node, {}), self.author_hint), None) is not None

    def _has_text(self, node: LexborNode) -> bool:
        return len(node.text(strip=True)) >= self.settings.min_text_chars

    def _hinted(self, own: _OwnView, hint: re.Pattern[str]) -> Iterator[LexborNode]:
        for node in own.node.traverse():
            if node.mem_id == own.node.mem_id or not node.is_element_node or not own.owns(node):
                continue
            names = " ".join(
                filter(None, (node.attributes.get(a) for a in ("class", "itemprop", "data-role", "rel")))
            )
            if names and hint.search(names):
                yield node

    def _time_of(self, own: _OwnView) -> datetime | None:
        for node in own.node.css("time, [datetime], [title]"):
            if not own.owns(node):
                continue
            for attribute in ("datetime", "title"):
                value = node.attributes.get(attribute)
                if value and (attribute == "datetime" or self.date.search(value)):
                    parsed = _parse_time(value)
                    if parsed is not None:
                        return parsed
            if node.tag == "time" and (parsed := _parse_time(node.text(strip=True))):
                return parsed
        match = self.date.search(block_text(own.node, skip=own.is_foreign))
        return _parse_time(match.group()) if match else None

    def _fields(self, own: _OwnView) -> _Fields | None:
        posted_at = self._time_of(own)
        author_node = next(self._hinted(own, self.author_hint), None)
        author = _clean(author_node.text()) if author_node else None
        votes_node = next((n for n in self._hinted(own, self.votes_hint) if _INT.search(n.text())), None)
        votes = _parse_votes(votes_node.text()) if votes_node else None
        hinted = list(self._hinted(own, self.text_hint))
        # The innermost hinted elements ("post-message" inside "post-body" inside "post-content").
        hinted_ids = {n.mem_id for n in hinted}
        text_nodes = [
            n for n in hinted if not any(d.mem_id in hinted_ids for d in n.traverse() if d.mem_id != n.mem_id)
        ]
        excluded = {n.mem_id for n in (author_node, votes_node) if n is not None}

        def skip(candidate: LexborNode) -> bool:
            names = candidate.attributes.get("class") or ""
            return (
                own.is_foreign(candidate)
                or candidate.mem_id in excluded
                or candidate.tag == "time"
                or bool(names and self.noise_hint.search(names))
            )

        if text_nodes:
            text = "\n\n".join(t for t in (block_text(n, skip=skip) for n in text_nodes) if t)
        else:
            paragraphs = [block_text(p, skip=skip) for p in own.node.css("p") if own.owns(p)]
            text = "\n\n".join(p for p in paragraphs if p)
        if len(text) < self.settings.min_text_chars:
            return None
        return _Fields(text=text, author=author, posted_at=posted_at, votes=votes)


@dataclass(frozen=True)
class _Fields:
    text: str
    author: str | None
    posted_at: datetime | None
    votes: int | None


def _depth(node: LexborNode) -> int:
    depth = 0
    current = node.parent
    while current is not None:
        depth += 1
        current = current.parent
    return depth
