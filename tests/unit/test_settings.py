from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from gateway.core.settings import SettingsError, load_settings
from gateway.policy import DEFAULT_POLICY, PolicyDocument

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_point_at_local_services() -> None:
    s = load_settings(env={})
    assert s.database_url.startswith("postgresql://")
    assert s.redis_url.startswith("redis://127.0.0.1")
    assert s.max_json_bytes == 1024 * 1024


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text('[gateway]\nport = 9001\nredis_url = "redis://file/0"\n')
    s = load_settings(config, env={"GATEWAY_REDIS_URL": "redis://env/0"})
    assert s.port == 9001
    assert s.redis_url == "redis://env/0"


def test_environment_values_are_typed() -> None:
    s = load_settings(env={"GATEWAY_PORT": "9100", "GATEWAY_ACCESS_LOG": "true"})
    assert s.port == 9100
    assert s.access_log is True
    with pytest.raises(SettingsError, match="GATEWAY_PORT"):
        load_settings(env={"GATEWAY_PORT": "eighty"})


def test_unknown_setting_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text("[gateway]\nprot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(config, env={})


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text("[gateway\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config, env={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_example_config_loads() -> None:
    s = load_settings(ROOT / "config" / "gateway.example.toml", env={})
    assert s.port == 8080


def test_shipped_default_policy_file_matches_the_code() -> None:
    raw = (ROOT / "config" / "policy.default.json").read_bytes()
    assert msgspec.json.decode(raw, type=PolicyDocument) == DEFAULT_POLICY


def test_schedules_from_the_environment_as_json() -> None:
    s = load_settings(env={"GATEWAY_SCHEDULES": '{"retention": "0 4 * * *"}'})
    assert s.schedules == {"retention": "0 4 * * *"}
    with pytest.raises(SettingsError, match="GATEWAY_SCHEDULES"):
        load_settings(env={"GATEWAY_SCHEDULES": "{retention"})
    with pytest.raises(SettingsError):
        load_settings(env={"GATEWAY_SCHEDULES": '{"retention": 4}'})


def test_a_pool_too_small_for_the_writers_and_an_import_is_refused() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_PG_POOL_MAX"):
        load_settings(env={"GATEWAY_PG_POOL_MAX": "3"})
    with pytest.raises(SettingsError, match=r"at least decision_writers \+ 3 \(6\)"):
        load_settings(env={"GATEWAY_DECISION_WRITERS": "3"}, pg_pool_max=5)
    assert load_settings(env={}, pg_pool_max=4).decision_writers == 1
    assert load_settings(env={"GATEWAY_DECISION_WRITERS": "3"}, pg_pool_max=6).pg_pool_max == 6
    with pytest.raises(SettingsError, match="decision_writers"):
        load_settings(env={}, decision_writers=0)


def test_time_limits_are_positive_and_bounded() -> None:
    s = load_settings(env={"GATEWAY_HEADER_TIMEOUT_SECONDS": "0.5"})
    assert s.header_timeout_seconds == 0.5
    assert (s.body_timeout_seconds, s.keepalive_timeout_seconds) == (30.0, 75.0)
    for name in ("HEADER_TIMEOUT", "BODY_TIMEOUT", "KEEPALIVE_TIMEOUT", "UPLOAD_IDLE"):
        with pytest.raises(SettingsError, match=f"GATEWAY_{name}_SECONDS"):
            load_settings(env={f"GATEWAY_{name}_SECONDS": "0"})
    with pytest.raises(SettingsError, match="header_timeout_seconds"):
        load_settings(env={}, header_timeout_seconds=3601)


@pytest.mark.parametrize("seconds", ["0", "301", "3600"])
def test_an_allow_valid_for_more_than_five_minutes_is_refused_at_start(seconds: str) -> None:
    with pytest.raises(SettingsError, match="ALLOW_VALID_SECONDS"):
        load_settings(env={"GATEWAY_ALLOW_VALID_SECONDS": seconds})


def test_an_allow_valid_for_five_minutes_is_accepted() -> None:
    assert load_settings(env={"GATEWAY_ALLOW_VALID_SECONDS": "300"}).allow_valid_seconds == 300
