"""How a source is shown to moderators: its title with its handle beside it, and what could
make one source pass for another made visible. Four channels titled "\\u202eedisni_ytamla@"
all display as "@almaty_inside"; "@аlmaty_inside" with a Cyrillic "а" looks like the real one."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from monitor.normalize import visible

# Characters that reorder the text around them (Unicode's explicit directional formatting).
DIRECTION_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class SourceIdentity:
    title: str  # as written, with invisible and direction characters written out (\\u202e)
    handle: str  # the key: @username, channel id or feed URL, written out the same way
    warnings: tuple[str, ...]  # why the name may not be what it looks like


def identify(title: str | None, key: str) -> SourceIdentity:
    warnings = []
    names = [name for name in (title, key) if name]
    if any(ch in DIRECTION_CONTROLS for name in names for ch in name):
        warnings.append("direction controls in its name")
    if any(unicodedata.category(ch) in ("Cf", "Cc") and ch not in DIRECTION_CONTROLS
           for name in names for ch in name):
        warnings.append("invisible characters in its name")
    if any(_mixes_scripts(word) for name in names for word in _WORD.findall(name)):
        warnings.append("Latin and Cyrillic letters mixed in one word")
    return SourceIdentity(visible(title or key), visible(key), tuple(warnings))


def _mixes_scripts(word: str) -> bool:
    scripts = {unicodedata.name(ch, "").split(" ")[0] for ch in word}
    return "LATIN" in scripts and "CYRILLIC" in scripts
