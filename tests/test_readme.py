"""Every `monitor` command the README shows is one the command line takes as written, and
the ones that only read run on a fresh store."""

import re
import shlex

import click
import pytest

from cli.main import cli
from tests.conftest import REPO, monitor_command

# What the README's placeholders stand for when a command is parsed.
PLACEHOLDERS = {"ID": "1", "CLUSTER_ID": "1", "N": "8080", "S": "900", "SECONDS": "600", "NAME": "editor",
                "URL": "https://example.org/feed.xml", "ROLE": "viewer", "WHY": "reason", "DIR": "models",
                "FILE": "posts.jsonl", "FILE...": "posts.jsonl", "STREAM...": "posts.jsonl",
                "PAIRS.tsv...": "posts.jsonl",
                "../shared/data": ".", "channels/*.json": "channel_messages.json"}
READ_ONLY = [["stats", "--json"], ["sources", "list"], ["alerts", "list", "--json"], ["watchlist", "list"],
             ["users", "list"], ["webhooks", "list"], ["--help"]]


def readme_commands() -> list[list[str]]:
    """Each `monitor ...` line of the README's shell blocks, as argument lists: one per
    alternative ("list | test ID"), optional parts ("[--json]") included, choices
    ("a|b|c") and placeholders filled in."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = []
    for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        start = re.search(r"(?:^|\s)(monitor\s.*)", line)
        if start is None or line.startswith(("docker", "python3", "cp ")):
            continue
        words = start.group(1).split(" | ")
        first = shlex.split(words[0].replace("[", "").replace("]", ""))
        group = first[:2]  # "monitor webhooks list | test ID": the others are more of that group
        for index, alternative in enumerate(words):
            optional_shown = alternative.replace("[", "").replace("]", "")
            parts = first if index == 0 else group + shlex.split(optional_shown)
            commands.append([PLACEHOLDERS.get(part, part.split("|")[0]) for part in parts[1:]])
    return commands


def test_the_readme_shows_the_commands_operators_need():
    shown = {" ".join(command[:2]) for command in readme_commands()}
    assert {"import posts.jsonl", "alerts list", "watchlist add", "clusters show", "eval alerts"} <= shown


@pytest.mark.parametrize("args", readme_commands(), ids=" ".join)
def test_every_readme_command_is_one_the_command_line_takes(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # with the files the README's examples name
    (tmp_path / "export").mkdir()
    for name in ("posts.jsonl", "channel_messages.json", "export/result.json"):
        (tmp_path / name).write_text("")
    command, rest, parent = cli, list(args), click.Context(cli, info_name="monitor")
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        command = command.get_command(parent, rest.pop(0))
        assert command is not None, f"no command monitor {' '.join(args)}"
        parent = click.Context(command, info_name=command.name, parent=parent)
    try:
        command.make_context(command.name, rest, parent=parent.parent)
    except click.exceptions.Exit:  # --help
        pass


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_the_readme_reading_commands_run_on_a_fresh_store(args, tmp_path):
    assert args in readme_commands() or args[:2] in [command[:2] for command in readme_commands()]
    result = monitor_command(*args, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
