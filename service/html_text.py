"""HTML comment bodies to plain text (selectolax), for Coral and Perspective ``type: HTML``."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser as HTMLParser

DROP_TAGS = ["script", "style", "template", "noscript", "iframe", "object", "embed", "head", "svg", "math"]
BLOCK_TAGS = "p, div, li, blockquote, h1, h2, h3, h4, h5, h6, pre, tr"
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: scripts and styles dropped, line breaks kept, entities decoded.

    The parser never executes or fetches anything; text that merely looks like markup
    (``a < b``) survives as text.
    """
    if "<" not in markup and "&" not in markup:
        return markup
    tree = HTMLParser(markup)
    tree.strip_tags(DROP_TAGS)
    for br in tree.css("br"):
        br.insert_after("\n")
    for block in tree.css(BLOCK_TAGS):
        block.insert_before("\n")
        block.insert_after("\n")
    root = tree.body or tree.root
    if root is None:
        return ""
    text = root.text(separator="", deep=True)
    return _BLANK_LINES.sub("\n", text).strip()
