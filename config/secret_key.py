"""The web app's SECRET_KEY: what counts as strong, and the demo's own random one.

Whoever knows the key can sign a session cookie for any user, so a key that is short, a
placeholder or the old default is refused outright rather than warned about.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_LENGTH = 32
# Values that documentation and examples suggest: anyone can try them.
PLACEHOLDERS = {"change-me-in-production", "changeme", "change-me", "secret", "dev", "development"}
DEMO_KEY_FILE = "secret_key"


class InsecureSecretKey(Exception):
    """SECRET_KEY is missing or guessable; the message says what to set."""


def check_secret_key(key: str | None) -> str:
    """KEY if it is strong enough to sign sessions; else InsecureSecretKey saying why."""
    advice = ('set SECRET_KEY to a random value, e.g. python -c "import secrets; '
              'print(secrets.token_urlsafe(48))"')
    if not key:
        raise InsecureSecretKey(f"SECRET_KEY is not set: {advice}")
    if key.strip().lower() in PLACEHOLDERS:
        raise InsecureSecretKey(f"SECRET_KEY is a published placeholder ({key!r}): {advice}")
    if len(key) < MIN_LENGTH or len(set(key)) < 8:
        raise InsecureSecretKey(f"SECRET_KEY is too easy to guess (use at least {MIN_LENGTH} random "
                                f"characters): {advice}")
    return key


def demo_secret_key(data_dir: Path) -> str:
    """The demo's key: made at random on first use and kept, readable by its owner only, in
    DATA_DIR, so that a restarted demo keeps its users signed in."""
    path = data_dir / DEMO_KEY_FILE
    try:
        return check_secret_key(path.read_text().strip())
    except (FileNotFoundError, InsecureSecretKey):
        key = secrets.token_urlsafe(48)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(key + "\n")
        return key
