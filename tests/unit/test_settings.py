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


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("False", False), ("no", False)],
)
def test_yes_no_settings_accept_the_usual_words(raw: str, value: bool) -> None:
    assert Settings.from_environ({"TURNOUT_OFFLINE": raw}).offline is value


def test_a_yes_no_setting_refuses_anything_else() -> None:
    assert Settings.from_environ({}).offline is False
    with pytest.raises(InvalidInput, match="TURNOUT_OFFLINE"):
        Settings.from_environ({"TURNOUT_OFFLINE": "maybe"})


def test_layer_settings_and_folders() -> None:
    settings = Settings.from_environ(
        {
            "TURNOUT_DATA_DIR": "/srv/t",
            "TURNOUT_WHEEL_DIR": "/srv/wheels",
            "TURNOUT_INDEX_URL": "https://i/simple",
        }
    )
    assert settings.wheel_path == Path("/srv/wheels")
    assert settings.index_url == "https://i/simple"
    assert settings.layers_dir == Path("/srv/t/layers")
    assert settings.uv_cache_dir == Path("/srv/t/uv-cache")
    assert Settings().wheel_path is None


def test_a_window_publish_interval_below_ten_milliseconds_is_refused() -> None:
    with pytest.raises(InvalidInput, match="TURNOUT_WINDOW_PUBLISH_MS=0"):
        Settings.from_environ({"TURNOUT_WINDOW_PUBLISH_MS": "0"})
    assert Settings.from_environ({"TURNOUT_WINDOW_PUBLISH_MS": "10"}).window_publish_ms == 10
