"""Standard Webhooks signatures (https://www.standardwebhooks.com/): HMAC-SHA256 over
"id.timestamp.body" with the base64 key of a whsec_ secret, sent as "v1,<base64>"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def generate_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: list[str], message_id: str, timestamp: int, body: str) -> str:
    """Space-separated signatures, one per secret: receivers accept any that matches."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in secrets_in_use)
