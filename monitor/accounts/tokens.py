"""API tokens: random, shown once, kept only as a SHA-256 digest.

A token acts with the narrower of its scope and its user's current role, so taking a
role away from a person takes it away from their tokens too.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import ApiToken, AuditEntry, Role, User, utcnow
from monitor.messages import NotFound, UserError

TOKEN_PREFIX = "mon_"


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the only time the plain token exists


@dataclass(frozen=True)
class TokenHolder:
    user: User
    role: Role  # the token's scope, narrowed by the user's role


def issue_token(session: Session, user: User, name: str, scope: Role, actor: str) -> IssuedToken:
    if not name.strip():
        raise UserError("a token needs a name that says what it is for")
    if not user.role.allows(scope):
        raise UserError(f"{user.name} has the {user.role.value} role "
                        f"and cannot hold a token of the {scope.value} scope")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip(), token_hash=_digest(secret),
                     prefix=secret[:10], scope=scope)
    session.add(token)
    session.flush()
    session.add(AuditEntry(actor=actor, action="token.issue", object_type="api_token",
                           object_id=str(token.id),
                           details={"user": user.name, "name": token.name, "scope": scope.value}))
    return IssuedToken(token, secret)


def resolve_token(session: Session, secret: str) -> TokenHolder | None:
    """Who holds this token, if it is valid, unrevoked and its user active."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    token.last_used_at = utcnow()
    role = min(token.scope, token.user.role, key=lambda role: role.rank)
    return TokenHolder(token.user, role)


def revoke_token(session: Session, token_id: int, actor: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(AuditEntry(actor=actor, action="token.revoke", object_type="api_token",
                               object_id=str(token.id), details={"user": token.user.name}))
    return token


def _digest(secret: str) -> str:
    # A fast digest is enough: the token has 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """USER_ID's tokens, newest first."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                .order_by(ApiToken.id.desc())))
