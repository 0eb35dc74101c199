"""Text normalization and content fingerprints.

Two views of a post's text:
- ``clean_text``: what is stored and shown; only bytes that cannot be stored are removed.
- ``matching_text``: what near-duplicate detection compares; formatting, links and
  emoji that differ between reposts of the same claim are removed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Markdown as Telegram channel dumps carry it: [label](url), **bold**, __italic__, `code`.
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()\s]|\([^()\s]*\))*\)")
_MARKDOWN_MARKS = re.compile(r"(\*\*|__|~~|`)")
_URL = re.compile(r"(?:https?://|www\.|t\.me/)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_SPACE = re.compile(r"\s+")
# Invisible characters used to make copies look different: zero-width, joiners, bidi controls.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)

# Channel signatures ("❤ Подписаться | Прислать новость", "👉 Топор Live. Подписаться")
# make unrelated posts of one channel look alike; a line that asks to subscribe is
# dropped before matching.
_PROMO_LINE = re.compile(
    r"подпис(ать|ыва)|subscribe|жазыл|підпис|прислать новость|предложить новость",
    re.IGNORECASE,
)

MIN_FINGERPRINT_WORDS = 4


def clean_text(raw: str) -> str:
    """Remove what no database can store (NUL, lone surrogates); keep everything else."""
    text = raw.encode("utf-8", errors="replace").decode("utf-8") if _has_surrogates(raw) else raw
    return text.replace("\x00", "")


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def readable_text(text: str) -> str:
    """Text without markup and links, for display summaries and for the embedding model."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _URL.sub(" ", text)
    text = _MARKDOWN_MARKS.sub("", text)
    return _SPACE.sub(" ", text).strip()


def matching_text(text: str) -> str:
    """Case-folded words only: reposts that differ in emoji, punctuation, links or the
    channel's signature match."""
    lines = [line for line in text.splitlines() if not _PROMO_LINE.search(line)]
    text = _MENTION.sub(" ", readable_text("\n".join(lines))).casefold()
    kept = [ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text]
    return _SPACE.sub(" ", "".join(kept)).strip()


def fingerprint(text: str) -> str | None:
    """SHA-256 of the matching text; None when too short to tell one claim from another."""
    words = matching_text(text)
    if len(words.split()) < MIN_FINGERPRINT_WORDS:
        return None
    return hashlib.sha256(words.encode("utf-8")).hexdigest()
