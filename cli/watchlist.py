"""`monitor watchlist ...`: the people likely to be impersonated and the topics to watch,
with their spellings in Russian, Kazakh and Latin letters."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.database import session_scope
from cli.options import ACTOR
from config import Settings


@click.group("watchlist")
def watchlist_group() -> None:
    """Watched people and topics (the impersonation and topic alert rules read them)."""


@watchlist_group.command("add")
@click.argument("kind", type=click.Choice(["person", "topic"]))
@click.argument("name")
@click.option("--spelling", "spellings", multiple=True,
              help="Another spelling (Kazakh, Russian, Latin; repeat the option for each).")
@click.option("--note", default="", help="Who this is, or why it is watched.")
@ACTOR
@click.pass_obj
def watchlist_add(settings: Settings, kind: str, name: str, spellings: tuple[str, ...], note: str,
                  actor: str) -> None:
    """Watch the person or topic NAME; an entry of that kind and name gets the new spellings."""
    from monitor.alerts.watchlists import import_entries

    with session_scope(settings) as session:
        added, updated = import_entries(session, [{"kind": kind, "name": name, "spellings": list(spellings),
                                                   "note": note}], actor)
    click.echo(f"{kind} {name}: {'added' if added else 'updated' if updated else 'unchanged'}")


@watchlist_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def watchlist_list(settings: Settings, as_json: bool) -> None:
    """Every entry with its spellings and whether it is active."""
    from monitor.alerts.watchlists import list_entries

    with session_scope(settings) as session:
        entries = [{"id": entry.id, "kind": entry.kind, "name": entry.name, "spellings": entry.variants,
                    "active": entry.active, "note": entry.note} for entry in list_entries(session)]
    if as_json:
        click.echo(json.dumps(entries, ensure_ascii=False))
        return
    for entry in entries:
        state = "" if entry["active"] else " [disabled]"
        click.echo(f"{entry['id']:>5}  {entry['kind']:<7} {entry['name']}{state}"
                   + (f"  ({', '.join(entry['spellings'])})" if entry["spellings"] else ""))


@watchlist_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@ACTOR
@click.pass_obj
def watchlist_import(settings: Settings, file: Path, actor: str) -> None:
    """Add or update entries from FILE: JSON (a list of {kind, name, spellings}) or CSV with
    the header kind,name,spellings (spellings separated by "|"). Bad entries are reported
    with their place and the rest imported (exit status 1 then)."""
    from monitor.alerts.watchlists import import_entries, read_watchlist_file

    items, problems = read_watchlist_file(file)
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)
    with session_scope(settings) as session:
        added, updated = import_entries(session, items, actor)
    click.echo(f"{added} entries added, {updated} updated, {len(problems)} rejected")
    if problems:
        raise SystemExit(1)
