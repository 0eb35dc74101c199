"""Users, their passwords and signing in.

Passwords are hashed with scrypt (Werkzeug's default KDF, salted, memory-hard).
Failed sign-ins are counted in the database, so that every web process sees them:
past a limit for one name from one address, or from one address in all, sign-in from
that address is refused for a while without even checking the password. An account is
never locked for everyone: that would let anyone lock a moderator out.

Each user has a session version, kept in every session cookie signed for them: moving it
on ends all their sessions at once (signing out, a new password or role, disabling).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from monitor.db.models import AuditEntry, LoginFailure, Role, User, utcnow
from monitor.messages import NotFound, UserError

MIN_PASSWORD_LENGTH = 12
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_UNKNOWN_USER_HASH = generate_password_hash("no such user: compare against something")


class AccountError(UserError):
    """An account cannot be made or changed as asked; the message says why."""


class SignInThrottled(UserError):
    """Too many failed sign-ins for this name or from this address; try again later."""


@dataclass(frozen=True)
class SignInLimits:
    per_name: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings) -> "SignInLimits":
        return cls(settings.login_max_failures_per_name, settings.login_max_failures_per_address,
                   timedelta(minutes=settings.login_failure_window_minutes))


def parse_role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise AccountError(f"unknown role {name!r}: use one of {', '.join(r.value for r in Role)}") from None


def create_user(session: Session, name: str, password: str, role: Role, actor: str) -> User:
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(f"user name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-'")
    _check_password(password)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise AccountError(f"a user named {name!r} exists already")
    user = User(name=name, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    session.flush()
    _audit(session, actor, "user.create", user, {"role": role.value})
    return user


def set_role(session: Session, user_id: int, role: Role, actor: str) -> User:
    user = _get(session, user_id)
    previous, user.role = user.role, role
    end_sessions(user)
    _audit(session, actor, "user.role", user, {"from": previous.value, "to": role.value})
    return user


def set_active(session: Session, user_id: int, active: bool, actor: str) -> User:
    user = _get(session, user_id)
    user.active = active
    end_sessions(user)
    _audit(session, actor, "user.enable" if active else "user.disable", user, {})
    return user


def set_password(session: Session, user_id: int, password: str, actor: str) -> User:
    user = _get(session, user_id)
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    end_sessions(user)
    _audit(session, actor, "user.password", user, {})
    return user


def sign_out(session: Session, user_id: int) -> None:
    """Ends every session of the user, this one and any cookie copied from it."""
    end_sessions(_get(session, user_id))


def end_sessions(user: User) -> None:
    user.session_version += 1


def authenticate(session: Session, name: str, password: str, address: str,
                 limits: SignInLimits = SignInLimits(), now: datetime | None = None) -> User | None:
    """The active user with this name and password, or None. Raises SignInThrottled past the
    limits for this address: for this name from it, or for every name from it.

    The caller commits in both cases: a failure is recorded as well as a success.
    """
    now = now or utcnow()
    by_name, by_address = session.execute(
        select(func.count().filter(LoginFailure.name == name), func.count())
        .where(LoginFailure.created_at >= now - limits.window, LoginFailure.address == address)
    ).one()
    if by_name >= limits.per_name or by_address >= limits.per_address:
        raise SignInThrottled("too many failed sign-ins: wait a few minutes and try again")
    user = session.scalar(select(User).where(User.name == name))
    valid = check_password_hash(user.password_hash if user else _UNKNOWN_USER_HASH, password)
    if not (user and valid and user.active):
        session.add(LoginFailure(name=name[:64], address=address[:64], created_at=now))
        return None
    session.execute(delete(LoginFailure).where(LoginFailure.name == name, LoginFailure.address == address))
    user.last_login_at = now
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def _audit(session: Session, actor: str, action: str, user: User, details: dict) -> None:
    session.add(AuditEntry(actor=actor, action=action, object_type="user", object_id=str(user.id),
                           details={"name": user.name, **details}))


def active_user_named(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name, User.active.is_(True)))
