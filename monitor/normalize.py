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
# A label holds no bracket: otherwise each "[" of a hostile "[[[[..." scanned to the text's
# end (1.4 s for 20,000 of them). The address, one run of characters between parentheses
# at a time (possessive), is read once.
_MARKDOWN_LINK = re.compile(r"\[([^\[\]]*)\]\([^()\s]*+(?:\([^()\s]*\)[^()\s]*+)*+\)")
_MARKDOWN_MARKS = re.compile(r"(\*\*|__|~~|`)")
# A link: "http://", "https://", "www." or "t.me/" and what follows up to a space. Letters
# spelled in both cases rather than re.IGNORECASE, which is slower; the same matches after
# NFKC (the Kelvin sign or the long s it also folds are gone by then). The first letter
# stands alone, so that the engine skips to the next h, w or t rather than trying each
# branch at every character.
_URL = re.compile(r"[hHwWtT](?:(?<=[hH])[tT][tT][pP][sS]?://|(?<=[wW])[wW][wW]\.|(?<=[tT])\.[mM][eE]/)\S+")
_MENTION = re.compile(r"(?<!\w)@\w+")
# HTML pasted into a post (scraped copies, or markup prepended to look different): the
# markup says nothing about the claim. Script and style blocks go with their content: a
# block from its opening tag to the first closing one. Looked for only up to the last
# closing tag of its kind: from an opening tag with none after it the search ran to the
# text's end, and 20,000 "<script>" took 13 s. For the same reason an opening tag ends
# at its first ">" or before the next "<".
_HTML_BLOCKS = [(re.compile(rf"<{kind}\b[^<>]*>.*?</{kind}\s*>", re.IGNORECASE | re.DOTALL),
                 re.compile(rf"</{kind}\s*>", re.IGNORECASE)) for kind in ("script", "style")]
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
# Invisible characters used to make copies look different: zero-width, joiners, bidi controls.
# (A character class: str.translate with a table of deletions took eighteen times as long.)
INVISIBLE = "\u00ad\u180e\u200b-\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069"  # a character class's ranges
_INVISIBLE = re.compile(f"[{INVISIBLE}]")

# Channel signatures ("❤ Подписаться | Прислать новость", "👉 Топор Live. Подписаться")
# make unrelated posts of one channel look alike; a line that asks to subscribe is
# dropped before matching. Only the forms that ask (reflexive, imperative; in English,
# which has one form for both, "subscribe to/now/for/here" or at the line's end): the
# stems alone also dropped news of a law to be signed ("поручил подписать документ"), in
# Kazakh of what was written ("жазылған"), and lines of subscribers, and a one-line post
# went unembedded. Searched for in case-folded text: with re.IGNORECASE the search took
# five times as long.
_PROMO_LINE = re.compile(r"подпи(?:саться|сываться|сывайся|сывайтесь|шись|шитесь)|жазылың|арнаға жазыл|"
                         r"підпис(?:атися|уйся|уйтесь)|підпиш(?:іться|ись)|"
                         r"\bsubscribe(?: (?:to|now|for|here)\b|\W*$)|прислать новость|предложить новость",
                         re.MULTILINE)

MIN_FINGERPRINT_WORDS = 4

# Latin letters that look like Cyrillic ones (after case folding: B, H, K, M, T fold to
# b, h, k, m, t). Swapping a few inside a word ("Сапаpов" with a Latin p) makes a copy
# look new to an exact match. In a word that mixes the two scripts, the lookalikes are
# read in the script its other letters (or else the whole text) are written in; words in
# one script are left alone.
_LATIN_LOOKALIKES, _CYRILLIC_LOOKALIKES = "aceopxykmtbhi", "асеорхукмтвні"
_LATIN_TO_CYRILLIC = str.maketrans(_LATIN_LOOKALIKES, _CYRILLIC_LOOKALIKES)
_CYRILLIC_TO_LATIN = str.maketrans(_CYRILLIC_LOOKALIKES, _LATIN_LOOKALIKES)
# A word that mixes the two scripts: the only ones worth a second look. Searched for in
# words with one space between them; the lookaheads stop at the word's end and never step
# back (possessive), which halved the search.
_MIXED_WORD = re.compile("(?<![^ ])(?=[^ a-z]*+[a-z])(?=[^ \u0400-\u04ff]*+[\u0400-\u04ff])[^ ]+")
# A run of letters and digits (what \w means, less the underscore).
_WORD = re.compile(r"[^\W_]+")
_SURELY_CYRILLIC = re.compile("[" + "".join(
    chr(code) for code in range(0x0400, 0x0500) if chr(code) not in _CYRILLIC_LOOKALIKES) + "]")
_SURELY_LATIN = re.compile("[" + "".join(set("abcdefghijklmnopqrstuvwxyz") - set(_LATIN_LOOKALIKES)) + "]")


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
    # str.split() splits on the whitespace \s matches, at a third of re.sub's cost: the embed
    # stage reads thousands of posts a task on a GPU.
    return " ".join(_without_markup(text).split())


def _without_markup(text: str) -> str:
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = _MARKDOWN_LINK.sub(r"\1", text)
    text = _URL.sub(" ", text)
    return _MARKDOWN_MARKS.sub("", text)


# Clock times stay one token (10:00 is no speaker's colon); then words; then the marks that
# end sentences, open quotes and introduce speech.
_TOKEN = re.compile(r"\d{1,2}[:.]\d{2}(?!\d)|[^\W_]+|\n|[.!?…:;«»\"“”„—–]")


def visible(text: str) -> str:
    """TEXT with its invisible and direction-changing characters (format and control
    characters: U+202E, zero-width spaces...) written out as \\uXXXX, so that a name that
    mimics another cannot hide how it differs."""
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cf", "Cc") else ch for ch in text)


def sentence_tokens(text: str) -> list[str]:
    """Case-folded words with the punctuation of sentences and quotes kept, markup and links
    gone, and look-alike letters of the other script put right (for reading who says what)."""
    tokens = _TOKEN.findall(_without_markup(text).casefold())
    return [_unmix_scripts(token, True) if _MIXED_WORD.fullmatch(token) else token for token in tokens]


def matching_text(text: str) -> str:
    """Case-folded words only: reposts that differ in emoji, punctuation, links, HTML markup
    or the channel's signature match."""
    text = _HTML_TAG.sub(" ", _without_html_blocks(text))
    if _PROMO_LINE.search(text.casefold()):  # most posts have no such line: not split into lines for nothing
        text = "\n".join(line for line in text.splitlines() if not _PROMO_LINE.search(line.casefold()))
    text = _without_markup(text)
    if "@" in text:  # most posts mention no one
        text = _MENTION.sub(" ", text)
    words = " ".join(_WORD.findall(text.casefold()))
    if not _MIXED_WORD.search(words):
        return words
    # The text's main script: from the letters that have no lookalike in the other one.
    cyrillic_text = len(_SURELY_CYRILLIC.findall(words)) >= len(_SURELY_LATIN.findall(words))
    return _MIXED_WORD.sub(lambda match: _unmix_scripts(match.group(), cyrillic_text), words)


def _without_html_blocks(text: str) -> str:
    for block, closing in _HTML_BLOCKS:
        if ends := [match.end() for match in closing.finditer(text)]:
            text = block.sub(" ", text[:ends[-1]]) + text[ends[-1]:]
    return text


def _unmix_scripts(word: str, cyrillic_text: bool) -> str:
    latin = {ch for ch in word if "a" <= ch <= "z"}
    cyrillic = {ch for ch in word if "\u0400" <= ch <= "\u04ff"}
    if not latin or not cyrillic:
        return word
    # The letters that have no lookalike decide (л, и; l, n); failing those, the text's script.
    surely_cyrillic, surely_latin = cyrillic - set(_CYRILLIC_LOOKALIKES), latin - set(_LATIN_LOOKALIKES)
    if surely_cyrillic and surely_latin:
        return word
    if surely_cyrillic or (not surely_latin and cyrillic_text):
        return word.translate(_LATIN_TO_CYRILLIC)
    return word.translate(_CYRILLIC_TO_LATIN)


def fingerprint(text: str) -> str | None:
    """SHA-256 of the matching text; None when too short to tell one claim from another."""
    words = matching_text(text)
    if len(words.split()) < MIN_FINGERPRINT_WORDS:
        return None
    return hashlib.sha256(words.encode("utf-8")).hexdigest()
