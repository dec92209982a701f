"""Escapers for every text format the app packagers write.

Label names, app names and tokens come from users' data, so any of them may hold quotes,
backslashes, newlines, `$`, `*/` or emoji. Each generated format gets one escaper here, and
each escaper emits ASCII only (non-ASCII as UTF-16 `\\uXXXX` units, emoji as surrogate pairs):
the files then read back identically whatever encoding a tool assumes. The C packager adds its
escaper beside these.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping


def utf16_units(text: str) -> Iterable[int]:
    """The UTF-16 code units of `text` (what Java/Kotlin `\\uXXXX` escapes count)."""
    data = text.encode("utf-16-be", errors="surrogatepass")
    return (int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def _escaped(text: str, named: Mapping[int, str], printable=range(0x20, 0x7F)) -> str:
    """`text` with the units in `named` replaced, other units outside `printable` as \\uXXXX."""
    out = []
    for unit in utf16_units(text):
        if unit in named:
            out.append(named[unit])
        elif unit in printable:
            out.append(chr(unit))
        else:
            out.append(f"\\u{unit:04X}")
    return "".join(out)


_PROPERTIES = {ord(c): "\\" + c for c in "\\=:#! "} | {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x0C: "\\f"}


def properties_escape(text: str) -> str:
    """A key or value for java.util.Properties.load: `\\ = : # !` and spaces backslashed
    (a space is escaped everywhere, which load() accepts, so no leading-space special case),
    control and non-ASCII characters as \\uXXXX."""
    return _escaped(text, _PROPERTIES)


def properties_file(entries: Mapping[str, str], comment: str) -> str:
    """A Properties file in the given key order, without the timestamp Properties.store
    writes (the packagers' output must be byte-for-byte reproducible)."""
    lines = [f"# {properties_escape(comment)}"]
    lines += [f"{properties_escape(k)}={properties_escape(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


_KOTLIN = {ord("\\"): "\\\\", ord('"'): '\\"', ord("$"): "\\$", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def kotlin_string(text: str) -> str:
    """A Kotlin (and Gradle Kotlin DSL) string literal, quotes included: `\\ " $` and
    newlines escaped, so no value can end the literal or start a `${...}` template."""
    return '"' + _escaped(text, _KOTLIN) + '"'


_XML = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&apos;"}


def xml_escape(text: str) -> str:
    """Text or an attribute value in an XML file (manifest, resources). Non-ASCII characters
    become character references; XML 1.0 cannot carry most control characters at all."""
    bad = [c for c in text if ord(c) < 0x20 and c not in "\t\n\r"]
    if bad:
        raise ValueError(f"XML cannot hold control character U+{ord(bad[0]):04X}")
    return "".join(_XML.get(ord(c), c) if ord(c) < 0x7F else f"&#x{ord(c):X};" for c in text)


_ANDROID = {
    ord("\\"): "\\\\",
    ord('"'): '\\"',
    ord("'"): "\\'",
    ord(" "): "\\u0020",  # aapt collapses runs of spaces and trims the ends otherwise
    0x0A: "\\n",
    0x09: "\\t",
}


def android_string(text: str) -> str:
    """The body of a <string> in res/values/strings.xml: aapt's own escapes first (quotes,
    backslashes, spaces, a leading @ or ?, every other control or non-ASCII character as
    \\uXXXX, which aapt decodes), then XML escaping."""
    body = _escaped(text, _ANDROID)
    if body[:1] in ("@", "?"):
        body = "\\" + body
    return xml_escape(body)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def markdown_text(text: str) -> str:
    """Text shown literally in Markdown, inside a table cell or a list item: newlines and runs
    of whitespace become one space, and every character Markdown (or inline HTML) would
    interpret is backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


_C_NAMED = {ord("\\"): "\\\\", ord('"'): '\\"', ord("?"): "\\?", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def c_string(text: str | bytes) -> str:
    """A C99 string literal, quotes included, of `text`'s UTF-8 bytes: `\\ " ?` (no trigraphs)
    and controls escaped, every non-ASCII byte as a 3-digit octal escape (a hex escape would
    swallow following hex digits; octal stops at three), so the literal holds exactly those
    bytes whatever the compiler's source charset. User text never goes into a C comment."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    out = []
    for byte in data:
        if byte in _C_NAMED:
            out.append(_C_NAMED[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'
