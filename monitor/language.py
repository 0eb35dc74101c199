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


# A sentence in each watched language: detecting them, once short and once long, loads the
# models detection goes on to use (lingua loads them lazily, as a text needs them).
_SAMPLES = (
    "Это тестовый текст на русском языке",
    "Бұл қазақ тіліндегі мәтін",
    "Це український текст",
    "Гэта беларускі тэкст",
    "This is an English text",
)


@cache
def _detector():
    return LanguageDetectorBuilder.from_languages(*WATCHED_LANGUAGES).build()


def load_language_models() -> None:
    """Load the models detection uses now, rather than at the first texts that need them:
    what a worker's main process does before starting its pool, whose processes then share
    them. Unlike lingua's own preloading, this starts no threads,
    which a forked process would not have."""
    for sample in _SAMPLES:
        detect_language(sample)
        detect_language(" ".join([sample] * 10))


def detect_language(text: str) -> str | None:
    """ISO 639-1 code, or None when the text has too few letters to tell.

    Judged on the readable text: the Latin letters of a link's address (t.me/+XMYKyW...)
    made short Russian posts read as English."""
    text = readable_text(text)
    if sum(ch.isalpha() for ch in text) < 3:
        return None
    language = _detector().detect_language_of(text)
    return language.iso_code_639_1.name.lower() if language else None
