"""Markdown escaping, proven by parsing: names with Markdown, HTML and table syntax render as
their literal text (whitespace collapsed) and never add a table column."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from edgesdk.ondevice.escape import markdown_text

NASTY = [
    'a"b\\c\n${x}*/é',
    "pipe | in [a](http://x) `code` **bold** _it_ <script>alert(1)</script>",
    "# heading\n- item ~~strike~~ 😀 مرحبا",
]


def _inline_text(tokens) -> str:
    return "".join(child.content for tok in tokens if tok.type == "inline" for child in tok.children or [])


@pytest.mark.parametrize("name", NASTY)
def test_markdown_text_renders_literally(name):
    md = MarkdownIt("commonmark").enable("table")
    item = md.parse(f"- labels: {markdown_text(name)}, other\n")
    assert _inline_text(item) == f"labels: {' '.join(name.split())}, other"
    assert [t.type for t in item].count("list_item_open") == 1
    table = md.parse(f"| key | value |\n|---|---|\n| {markdown_text(name)} | x |\n")
    assert [t.type for t in table].count("td_open") == 2
    assert "<script>" not in md.render(f"{markdown_text(name)}\n")
