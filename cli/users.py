"""`monitor users ...`: accounts of the review UI and API."""

from __future__ import annotations

import sys

import click

from cli.database import session_scope
from cli.options import ACTOR
from config import Settings
from monitor.db.models import Role


@click.group("users")
def users_group() -> None:
    """Accounts of the review UI and API."""


@users_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True,
              help="viewer reads; moderator also reviews; admin also manages users, sources, webhooks.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@ACTOR
@click.pass_obj
def users_create(settings: Settings, name: str, role: str, password_stdin: bool, actor: str) -> None:
    """Create the account NAME; the password is asked for (twice), or read from standard input."""
    from monitor.accounts.users import create_user

    password = _read_password(password_stdin)
    with session_scope(settings) as session:
        user = create_user(session, name, password, Role(role), actor)
        click.echo(f"user {user.name} created as {user.role.value}")


@users_group.command("set-password")
@click.argument("user_id", type=int)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@ACTOR
@click.pass_obj
def users_set_password(settings: Settings, user_id: int, password_stdin: bool, actor: str) -> None:
    """Give USER_ID a new password; every session they have open ends."""
    from monitor.accounts.users import set_password

    password = _read_password(password_stdin)
    with session_scope(settings) as session:
        user = set_password(session, user_id, password, actor)
        click.echo(f"user {user.name} has a new password; their sessions have ended")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_group.command("list")
@click.pass_obj
def users_list(settings: Settings) -> None:
    """Accounts with their role and state."""
    from monitor.review.queries import list_users

    with session_scope(settings) as session:
        for user in list_users(session):
            click.echo(f"{user.id:>5}  {user.name:<24} {user.role.value:<10} "
                       f"{'active' if user.active else 'disabled'}")


@users_group.command("set-role")
@click.argument("user_id", type=int)
@click.argument("role", type=click.Choice([role.value for role in Role]))
@ACTOR
@click.pass_obj
def users_set_role(settings: Settings, user_id: int, role: str, actor: str) -> None:
    """Give USER_ID another role (their API tokens are narrowed with it)."""
    from monitor.accounts.users import set_role

    with session_scope(settings) as session:
        user = set_role(session, user_id, Role(role), actor)
        click.echo(f"user {user.name} is now {user.role.value}")
