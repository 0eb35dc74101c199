"""Watchlists: people likely to be impersonated (officials, journalists) and topics or
phrases to watch for, each with its spellings in Cyrillic and Latin, Kazakh and Russian.
Edited by admins; read by the alert rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AuditEntry, WatchlistEntry
from monitor.messages import NotFound, UserError
from monitor.normalize import matching_text

KINDS = ("person", "topic")


def add_entry(session: Session, kind: str, name: str, variants: list[str], actor: str,
              note: str = "") -> WatchlistEntry:
    if kind not in KINDS:
        raise UserError(f"unknown watchlist kind {kind!r}: use one of {', '.join(KINDS)}")
    if not name.strip():
        raise UserError("a watchlist entry needs a name")
    spellings = list(dict.fromkeys(v.strip() for v in variants if v.strip() and v.strip() != name.strip()))
    entry = WatchlistEntry(kind=kind, name=name.strip(), variants=spellings, note=note.strip(),
                           created_by=actor)
    session.add(entry)
    session.flush()
    _audit(session, actor, "watchlist.add", entry)
    return entry


def set_active(session: Session, entry_id: int, active: bool, actor: str) -> WatchlistEntry:
    entry = session.get(WatchlistEntry, entry_id)
    if entry is None:
        raise NotFound(f"no watchlist entry {entry_id}")
    entry.active = active
    _audit(session, actor, "watchlist.enable" if active else "watchlist.disable", entry)
    return entry


def list_entries(session: Session) -> list[WatchlistEntry]:
    return list(session.scalars(select(WatchlistEntry)
                                .order_by(WatchlistEntry.kind, WatchlistEntry.name)))


def _audit(session: Session, actor: str, action: str, entry: WatchlistEntry) -> None:
    session.add(AuditEntry(actor=actor, action=action, object_type="watchlist_entry",
                           object_id=str(entry.id),
                           details={"kind": entry.kind, "name": entry.name, "variants": entry.variants}))


# Words that call people to act (stems; matched at the start of a word, case-insensitively),
# in Russian, Kazakh and English. Extended by ALERT_CALL_TO_ACTION_WORDS.
CALLS_TO_ACTION = (
    "призыва", "призвал", "приход", "выход", "выйти", "выйдем", "собира", "соберем", "присоедин",
    "поддерж", "участв", "шерууге", "шығ", "жина", "қатыс", "қосыл", "келіңдер",
    "join", "come out", "gather", "march", "rally", "take part",
)


def _word_pattern(phrase: str) -> str:
    """A phrase as words that may take an ending (Сапаров, Сапарова, Сапаровым)."""
    words = matching_words(phrase)
    return r"\s+".join(re.escape(_stem(word)) + r"\w{0,4}" for word in words)


def _stem(word: str) -> str:
    # Russian and Kazakh inflect names and nouns at the end: Бессмертный полк, Бессмертного полка.
    return word[:-2] if len(word) > 6 else word[:-1] if len(word) > 4 else word


def _any_of(names: list[str]) -> re.Pattern:
    alternatives = [_word_pattern(name) for name in names if matching_words(name)]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def matching_words(text: str) -> list[str]:
    return matching_text(text).split()


@dataclass(frozen=True)
class WatchHit:
    entry_id: int
    kind: str
    name: str
    posts: int  # posts of the cluster that mention it
    calls_to_action: int  # of those, posts that also call to act (people only)


class WatchPatterns:
    """Compiled watchlist: which people and topics a text mentions, and whether it calls to act."""

    def __init__(self, entries: list[WatchlistEntry], calls_to_action: tuple[str, ...] = CALLS_TO_ACTION):
        self.entries = [(entry.id, entry.kind, entry.name, _any_of([entry.name, *entry.variants]))
                        for entry in entries if entry.active and matching_words(entry.name)]
        self.call_to_action = re.compile(r"(?<!\w)(?:" + "|".join(
            r"\s+".join(re.escape(word) for word in matching_words(stem)) for stem in calls_to_action) + ")")

    @classmethod
    def load(cls, session: Session, extra_calls: tuple[str, ...] = ()) -> "WatchPatterns":
        return cls(list_entries(session), CALLS_TO_ACTION + extra_calls)

    @property
    def watching(self) -> bool:
        """Whether any person or topic is watched: if not, no text has hits."""
        return bool(self.entries)

    def hits(self, texts: list[str]) -> list[WatchHit]:
        if not self.watching:
            return []
        prepared = [_matching_text(text) for text in texts]
        found = []
        for entry_id, kind, name, pattern in self.entries:
            mentioning = [text for text in prepared if pattern.search(text)]
            if mentioning:
                calls = sum(1 for text in mentioning if kind == "person" and self.call_to_action.search(text))
                found.append(WatchHit(entry_id, kind, name, len(mentioning), calls))
        return found


# A cluster's alert is assessed again each time it grows, over all its posts: the texts of
# a wave come up again and again (normalizing 20,000 of them took 1.3 s a time). Bounded:
# about 30 MB for posts of 400 characters; a cluster larger than the cache misses it.
@lru_cache(maxsize=20_000)
def _matching_text(text: str) -> str:
    return matching_text(text)
