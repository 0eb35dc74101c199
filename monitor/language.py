"""Offline language detection for the languages the monitor watches."""

from __future__ import annotations

from functools import cache

from lingua import Language, LanguageDetectorBuilder

from monitor.normalize import readable_text

WATCHED_LANGUAGES = (
    Language.RUSSIAN,
    Language.KAZAKH,
    Language.UKRAINIAN,
    Language.ENGLISH,
    Language.BELARUSIAN,
)


@cache
def _detector():
    return LanguageDetectorBuilder.from_languages(*WATCHED_LANGUAGES).build()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code, or None when the text has too few letters to tell.

    Judged on the readable text: the Latin letters of a link's address (t.me/+XMYKyW...)
    made short Russian posts read as English."""
    text = readable_text(text)
    if sum(ch.isalpha() for ch in text) < 3:
        return None
    language = _detector().detect_language_of(text)
    return language.iso_code_639_1.name.lower() if language else None
