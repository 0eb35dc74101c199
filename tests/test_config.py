"""config/.env.example stays true: it lists every setting, and nothing that is not one."""

import re

from config import Settings
from tests.conftest import REPO

EXAMPLE = REPO / "config" / ".env.example"
# Read by libraries (Hugging Face, prometheus-client), documented alongside.
NOT_SETTINGS = {"HF_HUB_OFFLINE", "PROMETHEUS_MULTIPROC_DIR"}


def test_every_setting_is_documented_in_the_example_env_file():
    named = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(), flags=re.MULTILINE))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - named == set(), "settings missing from config/.env.example"
    assert named - settings - NOT_SETTINGS == set(), "names in config/.env.example that are no setting"
