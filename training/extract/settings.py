"""Validated configuration for extraction: ``configs/extract/extract.yaml`` and ``sites.yaml``."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from civility.model.resources import load_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_regexes(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return patterns


class HtmlFallbackSettings(_Strict):
    min_repeats: int = Field(ge=2, description="A comment-like block must repeat at least this often.")
    min_text_chars: int = Field(ge=1)
    date_pattern: str
    author_hint: str = Field(description="Regex on class / itemprop names marking the author element.")
    votes_hint: str
    text_hint: str
    noise_hint: str = Field(description="Class names of elements never part of the comment text.")

    @field_validator("date_pattern", "author_hint", "votes_hint", "text_hint", "noise_hint")
    @classmethod
    def _valid(cls, value: str) -> str:
        _check_regexes([value])
        return value


class ExportColumns(_Strict):
    """Candidate column names per field, tried in order (JSONL: dotted paths allowed)."""

    text: list[str] = Field(min_length=1)
    author: list[str] = Field(default_factory=list)
    posted_at: list[str] = Field(default_factory=list)
    votes: list[str] = Field(default_factory=list)
    id: list[str] = Field(default_factory=list)
    parent_id: list[str] = Field(default_factory=list)
    url: list[str] = Field(default_factory=list)
    title: list[str] = Field(default_factory=list)


class ExtractSettings(_Strict):
    html_fallback: HtmlFallbackSettings
    time_formats: list[str] = Field(
        min_length=1, description="strptime formats tried, in order, on export timestamps."
    )
    export_columns: ExportColumns


class TimestampSpec(_Strict):
    pattern: str = Field(description="Regex matching the timestamp as printed.")
    formats: list[str] = Field(min_length=1, description="strptime formats for the matched text.")

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        _check_regexes([value])
        return value


class TextProfile(_Strict):
    """How one site's comments look in a saved text rendering of the page.

    A comment is: a header (optional reply marker of the previous comment, optional avatar
    initial, author, timestamp, optional nesting marker, optional vote count), optionally the
    vote count on its own line, one or more body paragraphs, and the site's reply marker.
    """

    name: str
    description: str = ""
    detect: list[str] = Field(
        default_factory=list, description="Regexes; when given, the profile applies only if one matches."
    )
    author: str = Field(description="Regex with a named group 'author'.")
    avatar_initial: bool = Field(
        default=False, description="Authors may be preceded by their avatar's initial letter."
    )
    header_separator: str = Field(default=r"[ \t]+", description="Regex between author and timestamp.")
    timestamp: TimestampSpec
    votes: str = Field(default=r"[+-]?\d+", description="Regex for a vote count.")
    votes_line: str | None = Field(
        default=None, description="Regex with group 'votes' for a vote line after the body."
    )
    nested_marker: str | None = Field(
        default=None, description="Regex printed in the header of replies (parent = last non-reply)."
    )
    reply_marker: str = Field(description="Regex for the reply control that ends every comment.")
    furniture: list[str] = Field(default_factory=list, description="Regexes for page furniture lines.")
    title_skip: list[str] = Field(default_factory=list, description="Lines skipped when finding the title.")
    url: str | None = Field(default=None, description="Regex with group 'url' for the page URL.")

    @field_validator("detect", "furniture", "title_skip")
    @classmethod
    def _valid_list(cls, value: list[str]) -> list[str]:
        return _check_regexes(value)

    @field_validator("author")
    @classmethod
    def _author_group(cls, value: str) -> str:
        if "author" not in re.compile(value).groupindex:
            raise ValueError("the author regex needs a named group 'author'")
        return value

    @field_validator("votes_line")
    @classmethod
    def _votes_group(cls, value: str | None) -> str | None:
        if value is not None and "votes" not in re.compile(value).groupindex:
            raise ValueError("votes_line needs a named group 'votes'")
        return value

    @field_validator("url")
    @classmethod
    def _url_group(cls, value: str | None) -> str | None:
        if value is not None and "url" not in re.compile(value).groupindex:
            raise ValueError("the url regex needs a named group 'url'")
        return value


class HtmlSite(_Strict):
    """CSS selectors for one site's comment markup. Field specs are ``selector`` or ``selector@attr``;
    ``@attr`` alone reads an attribute of the comment element itself."""

    name: str
    description: str = ""
    detect: list[str] = Field(min_length=1, description="Regexes on the raw HTML identifying the site.")
    comment: str = Field(description="Selector of one comment element.")
    id: str | None = None
    parent_id: str | None = Field(
        default=None, description="Spec of the parent's id; default: the enclosing comment element."
    )
    author: str | None = None
    posted_at: str | None = None
    votes: str | None = None
    text: str
    title: str | None = "meta[property='og:title']@content"
    url: str | None = "link[rel='canonical']@href"

    @field_validator("detect")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        return _check_regexes(value)


class SitesConfig(_Strict):
    text_renderings: list[TextProfile] = Field(default_factory=list)
    html: list[HtmlSite] = Field(default_factory=list)

    def text_profile(self, name: str) -> TextProfile:
        for profile in self.text_renderings:
            if profile.name == name:
                return profile
        known = ", ".join(p.name for p in self.text_renderings)
        raise KeyError(f"unknown text-rendering site {name!r} (configured: {known})")

    def html_site(self, name: str) -> HtmlSite:
        for site in self.html:
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.html)
        raise KeyError(f"unknown HTML site {name!r} (configured: {known})")


@lru_cache(maxsize=4)
def load_sites(path: Path | None = None) -> SitesConfig:
    """Site markers and selectors, from ``configs/extract/sites.yaml`` unless a path is given."""
    return SitesConfig.model_validate(load_yaml(path or "extract/sites.yaml"))


@lru_cache(maxsize=4)
def load_extract_settings(path: Path | None = None) -> ExtractSettings:
    return ExtractSettings.model_validate(load_yaml(path or "extract/extract.yaml"))
