"""Watchlists: people likely to be impersonated (officials, journalists) and topics or
phrases to watch for, each with its spellings in Cyrillic and Latin, Kazakh and Russian.
Edited by admins; read by the alert rules."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.calls import PersonName, attributes_call
from monitor.db.models import AuditEntry, WatchlistEntry
from monitor.messages import NotFound, UserError
from monitor.normalize import matching_text, sentence_tokens

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


def import_entries(session: Session, items: list[dict], actor: str) -> tuple[int, int]:
    """Add or update entries {kind, name, spellings[, note]}: an entry of the same kind and
    name gets the new spellings added, never a second row. Returns (added, updated)."""
    added = updated = 0
    for item in items:
        entry = session.scalar(select(WatchlistEntry).where(WatchlistEntry.kind == item["kind"],
                                                            WatchlistEntry.name == item["name"].strip()))
        if entry is None:
            add_entry(session, item["kind"], item["name"], item.get("spellings", []), actor,
                      item.get("note", ""))
            added += 1
            continue
        new = [spelling.strip() for spelling in item.get("spellings", []) if spelling.strip()]
        spellings = list(dict.fromkeys([*entry.variants, *new]))
        if spellings != entry.variants:
            entry.variants = spellings
            _audit(session, actor, "watchlist.update", entry)
            updated += 1
    session.flush()
    return added, updated


def read_watchlist_file(path: Path) -> tuple[list[dict], list[str]]:
    """Entries of a JSON file (a list of {kind, name, spellings[, note]}) or a CSV file with the
    header kind,name,spellings (spellings separated by "|" or ";"); and each bad one, said with
    its place. The good ones are kept."""
    items, problems = [], []
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            return [], [f"line {error.lineno}: not valid JSON: {error.msg} at column {error.colno}"]
        listed = data if isinstance(data, list) else [data]
        rows = [(f"item {index}", row) for index, row in enumerate(listed)]
    else:
        reader = csv.DictReader(io.StringIO(text))
        rows = [(f"line {number}", {**row, "spellings": re.split(r"[|;]", row.get("spellings") or "")})
                for number, row in enumerate(reader, start=2)]
    for where, row in rows:
        if not isinstance(row, dict):
            problems.append(f"{where}: expected an object with kind, name and spellings")
            continue
        kind, name = str(row.get("kind") or "").strip(), str(row.get("name") or "").strip()
        spellings = row.get("spellings", row.get("variants", [])) or []
        if kind not in KINDS:
            problems.append(f"{where}: kind {kind!r}: use one of {', '.join(KINDS)}")
        elif not name:
            problems.append(f"{where}: no name")
        elif not isinstance(spellings, list) or not all(isinstance(s, str) for s in spellings):
            problems.append(f"{where}: spellings must be a list of strings")
        else:
            items.append({"kind": kind, "name": name, "spellings": [s for s in spellings if s.strip()],
                          "note": str(row.get("note") or "")})
    return items, problems


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


def _word_pattern(phrase: str) -> str:
    """A topic's phrase as words that may take an ending (Бессмертный полк, Бессмертного полка)."""
    words = matching_words(phrase)
    return r"\s+".join(re.escape(_stem(word)) + r"\w{0,4}" for word in words)


def _stem(word: str) -> str:
    return word[:-2] if len(word) > 6 else word[:-1] if len(word) > 4 else word


def _any_of(names: list[str]) -> re.Pattern:
    alternatives = [_word_pattern(name) for name in names if matching_words(name)]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def matching_words(text: str) -> list[str]:
    return matching_text(text).split()


MAX_READINGS = 50_000
_COMPILED: dict[tuple, "WatchPatterns"] = {}


@dataclass(frozen=True)
class Reading:
    """What one post says of the watchlist: who and what it mentions, and to whom it
    attributes a call to come out."""

    mentions: frozenset[int]  # entry ids
    calls: frozenset[int]  # ids of the people it attributes a mobilisation call to


@dataclass(frozen=True)
class WatchHit:
    entry_id: int
    kind: str
    name: str
    posts: int  # posts that mention it
    calls_to_action: int  # of those, posts that attribute a mobilisation call to the person


class WatchPatterns:
    """The compiled watchlist: which people and topics a text mentions, and to which of the
    people it attributes a call to come out (monitor/alerts/calls.py)."""

    def __init__(self, entries: list[WatchlistEntry], extra_calling: tuple[str, ...] = ()):
        active = [entry for entry in entries if entry.active and matching_words(entry.name)]
        self.names = {entry.id: (entry.kind, entry.name) for entry in active}
        self.topics = [(entry.id, _any_of([entry.name, *entry.variants]))
                       for entry in active if entry.kind == "topic"]
        self.people = [(entry.id, PersonName([entry.name, *entry.variants]))
                       for entry in active if entry.kind == "person"]
        self.extra_calling = tuple(word.casefold() for word in extra_calling)
        self._readings: dict[str, Reading] = {}

    @classmethod
    def load(cls, session: Session, extra_calling: tuple[str, ...] = ()) -> "WatchPatterns":
        """The compiled watchlist; the same object, with the readings it has made, for as long
        as the watchlist does not change."""
        entries = list_entries(session)
        key = (tuple((entry.id, entry.kind, entry.name, tuple(entry.variants), entry.active)
                     for entry in entries), extra_calling)
        if key not in _COMPILED:
            _COMPILED.clear()  # an edited watchlist: every post is read again
            _COMPILED[key] = cls(entries, extra_calling)
        return _COMPILED[key]

    @property
    def watching(self) -> bool:
        """Whether any person or topic is watched: if not, no text has hits."""
        return bool(self.names)

    def read(self, text: str) -> Reading:
        # A wave's texts come up again each time it grows: each is read once. Bounded: a
        # cluster larger than the memory is read again.
        reading = self._readings.get(text)
        if reading is None:
            if len(self._readings) >= MAX_READINGS:
                self._readings.clear()
            reading = self._readings[text] = self._read(text)
        return reading

    def _read(self, text: str) -> Reading:
        if not self.watching:
            return Reading(frozenset(), frozenset())
        words = matching_text(text)
        mentions = {entry_id for entry_id, pattern in self.topics if pattern.search(words)}
        tokens = sentence_tokens(text)
        calls = set()
        for entry_id, name in self.people:
            if name.mentions(tokens):
                mentions.add(entry_id)
                if attributes_call(tokens, name, self.extra_calling):
                    calls.add(entry_id)
        return Reading(frozenset(mentions), frozenset(calls))

    def hits(self, texts: list[str]) -> list[WatchHit]:
        readings = [self.read(text) for text in texts]
        found = []
        for entry_id, (kind, name) in self.names.items():
            mentioning = sum(1 for reading in readings if entry_id in reading.mentions)
            if mentioning:
                calls = sum(1 for reading in readings if entry_id in reading.calls)
                found.append(WatchHit(entry_id, kind, name, mentioning, calls))
        return found
