"""Accounts: hashed passwords, sign-in throttling, API tokens kept only as digests."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from monitor.accounts.tokens import issue_token, resolve_token, revoke_token
from monitor.accounts.users import (
    AccountError,
    SignInLimits,
    SignInThrottled,
    authenticate,
    create_user,
    set_active,
    set_role,
)
from monitor.db.models import ApiToken, AuditEntry, Role, User, utcnow
from tests.conftest import monitor_command

PASSWORD = "correct horse battery"


@pytest.fixture
def moderator(database) -> int:
    with database.session() as session:
        return create_user(session, "aigerim", PASSWORD, Role.moderator, actor="setup").id


def test_a_password_is_stored_as_a_salted_scrypt_hash(database, moderator):
    with database.session() as session:
        stored = session.get(User, moderator).password_hash
        assert stored.startswith("scrypt:") and PASSWORD not in stored
        other = create_user(session, "daniyar", PASSWORD, Role.viewer, actor="setup")
        assert other.password_hash != stored  # a salt of its own


@pytest.mark.parametrize("name, password, message", [
    ("aigerim", "short", "at least 12 characters"),
    ("<script>", PASSWORD, "use 1 to 64 letters"),
    ("", PASSWORD, "use 1 to 64 letters"),
])
def test_an_account_that_cannot_be_made_is_refused_with_the_reason(database, name, password, message):
    with pytest.raises(AccountError, match=message):
        with database.session() as session:
            create_user(session, name, password, Role.viewer, actor="setup")


def test_a_name_is_taken_once(database, moderator):
    with pytest.raises(AccountError, match="exists already"):
        with database.session() as session:
            create_user(session, "aigerim", PASSWORD, Role.admin, actor="setup")


def test_sign_in_succeeds_with_the_password_and_fails_without_it(database, moderator):
    with database.session() as session:
        assert authenticate(session, "aigerim", PASSWORD, "10.0.0.1").id == moderator
        assert authenticate(session, "aigerim", "wrong password!", "10.0.0.1") is None
        assert authenticate(session, "nobody", PASSWORD, "10.0.0.1") is None
    with database.session() as session:
        set_active(session, moderator, False, actor="admin")
    with database.session() as session:
        assert authenticate(session, "aigerim", PASSWORD, "10.0.0.1") is None


def test_repeated_failures_throttle_the_guessing_address_never_the_account(database, moderator):
    limits = SignInLimits(per_name=3, per_address=100, window=timedelta(minutes=15))
    now = utcnow()
    for attempt in range(3):
        with database.session() as session:
            guess = f"guess {attempt} of many"
            assert authenticate(session, "aigerim", guess, "10.0.0.9", limits, now) is None
    with pytest.raises(SignInThrottled):
        with database.session() as session:
            authenticate(session, "aigerim", PASSWORD, "10.0.0.9", limits, now)
    with database.session() as session:  # the moderator, from her own address, is not locked out
        assert authenticate(session, "aigerim", PASSWORD, "10.0.0.1", limits, now).id == moderator
    with database.session() as session:  # the window has passed
        later = now + timedelta(minutes=16)
        assert authenticate(session, "aigerim", PASSWORD, "10.0.0.9", limits, later).id == moderator


def test_one_address_guessing_many_names_is_throttled(database, moderator):
    limits = SignInLimits(per_name=100, per_address=4)
    for n in range(4):
        with database.session() as session:
            authenticate(session, f"user{n}", "some password!", "203.0.113.7", limits)
    with pytest.raises(SignInThrottled):
        with database.session() as session:
            authenticate(session, "aigerim", PASSWORD, "203.0.113.7", limits)
    with database.session() as session:  # another address is not affected
        assert authenticate(session, "aigerim", PASSWORD, "198.51.100.1", limits) is not None


def test_an_api_token_is_kept_as_a_digest_and_acts_within_its_scope_and_its_users_role(database, moderator):
    with database.session() as session:
        issued = issue_token(session, session.get(User, moderator), "newsroom bot", Role.moderator, "aigerim")
        secret = issued.secret
    with database.session() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert secret.startswith("mon_") and secret not in (stored.token_hash, stored.prefix)
        assert resolve_token(session, secret).role is Role.moderator
        assert resolve_token(session, secret + "x") is None
        assert resolve_token(session, "not a token") is None
    with database.session() as session:
        set_role(session, moderator, Role.viewer, actor="admin")
    with database.session() as session:
        assert resolve_token(session, secret).role is Role.viewer  # narrowed with the person
        revoke_token(session, stored.id, actor="aigerim")
    with database.session() as session:
        assert resolve_token(session, secret) is None
        audit = session.scalars(select(AuditEntry.details).where(AuditEntry.object_type == "api_token")).all()
        assert audit and all(secret not in str(details) for details in audit)


def test_a_token_cannot_carry_more_than_its_users_role(database, moderator):
    with pytest.raises(Exception, match="cannot hold a token of the admin scope"):
        with database.session() as session:
            issue_token(session, session.get(User, moderator), "escalate", Role.admin, "aigerim")


def test_users_create_reads_the_password_from_standard_input(database):
    env = {"DATABASE_URL": database.url}
    made = monitor_command("users", "create", "dana", "--role", "viewer", "--password-stdin",
                           env=env, input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert "user dana created as viewer" in made.stdout and PASSWORD not in made.stdout
    too_short = monitor_command("users", "create", "erlan", "--role", "admin", "--password-stdin",
                                env=env, input="1234\n")
    assert too_short.returncode == 1 and "at least 12 characters" in too_short.stderr
    with database.session() as session:
        assert authenticate(session, "dana", PASSWORD, "127.0.0.1").role is Role.viewer
        assert session.scalar(select(User).where(User.name == "erlan")) is None
