"""Channels' Markdown (bold, italic, strikethrough, code, links), rendered safely: markdown-it
with raw HTML off and inline rules only (a post's '# ' or '- ' stays text, never a heading or
a list; its line breaks are kept by the page's pre-wrap), links only to http, https and tg
addresses, each opened apart and unendorsed."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

LINK_SCHEMES = ("http://", "https://", "tg://")
LINK_REL = "noopener noreferrer nofollow"  # as every outward link of the UI

_markdown = MarkdownIt("zero", {"html": False}).enable(
    ["emphasis", "strikethrough", "backticks", "link", "escape", "entity"])
# A link to anything else (javascript:, data:, a relative path) stays its plain text.
_markdown.validateLink = lambda url: url.strip().lower().startswith(LINK_SCHEMES)


def _link_open(renderer, tokens, index, options, env):
    tokens[index].attrSet("rel", LINK_REL)
    tokens[index].attrSet("target", "_blank")
    return renderer.renderToken(tokens, index, options, env)


_markdown.add_render_rule("link_open", _link_open)


def render_markdown(text: str | None) -> Markup:
    """TEXT's inline Markdown as HTML; everything else in it escaped."""
    return Markup(_markdown.renderInline(text or ""))
