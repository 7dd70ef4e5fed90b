from __future__ import annotations

from pathlib import Path

import pytest

from turnout.errors import InvalidInput
from turnout.settings import Settings

DOCS = Path(__file__).parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [name for name, _, _ in Settings.describe() if f"`{name}`" not in text]
    assert missing == []


def test_settings_come_from_the_injected_environ_and_overrides_win() -> None:
    settings = Settings.from_environ({"TURNOUT_PORT": "9001", "TURNOUT_DATA_DIR": "/tmp/x"}, port=9002)
    assert settings.port == 9002
    assert settings.data_dir == Path("/tmp/x")
    assert settings.resolved_database_url == "sqlite:////tmp/x/turnout.db"
    assert Settings.from_environ({}).port == 8420


def test_a_malformed_number_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="TURNOUT_PORT"):
        Settings.from_environ({"TURNOUT_PORT": "eighty"})
