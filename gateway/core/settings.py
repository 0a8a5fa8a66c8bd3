"""Typed settings: defaults, then a TOML file, then environment variables (which win)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec

ENV_PREFIX = "GATEWAY_"


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    database_url: str = "postgresql://postgres@127.0.0.1:5432/gateway"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "gw:"
    host: str = "127.0.0.1"
    port: int = 8080
    recordings_dir: str = "var/recordings"
    backup_dir: str = "var/recordings-backup"
    max_json_bytes: int = 1024 * 1024
    max_csv_bytes: int = 2 * 1024 * 1024 * 1024
    max_recording_bytes: int = 200 * 1024 * 1024
    # Slow clients: a request's headers, and a body read whole (JSON), must arrive within
    # these; an idle keep-alive connection is closed; an upload may take as long as it
    # needs but not pause longer than upload_idle_seconds.
    header_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    body_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    keepalive_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 75.0
    upload_idle_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    pg_pool_min: int = 2
    # Each decision writer keeps a connection, and a do-not-call import takes two.
    pg_pool_max: Annotated[int, msgspec.Meta(ge=4)] = 10
    decision_batch_max: int = 500
    decision_writers: Annotated[int, msgspec.Meta(ge=1, le=8)] = 1
    # How long an allow covers a dial, never past the end of the calling window.
    allow_valid_seconds: Annotated[int, msgspec.Meta(ge=1, le=300)] = 60
    # A pre-call check answers within this: its decision, a degraded deny, or 503.
    check_timeout_ms: Annotated[int, msgspec.Meta(ge=200, le=60_000)] = 2000
    snapshot_poll_seconds: float = 30.0
    scheduler: bool = True
    schedules: dict[str, str] = {}
    log_level: str = "INFO"
    access_log: bool = False


class SettingsError(Exception):
    pass


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as e:
            raise SettingsError(f"config file {path} does not exist") from e
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"config file {path} is not valid TOML: {e}") from e
        values.update(data.get("gateway", data))
    environ = os.environ if env is None else env
    for field in msgspec.structs.fields(Settings):
        name = ENV_PREFIX + field.name.upper()
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            if raw.lstrip().startswith("{"):  # a table, such as schedules, as JSON
                values[field.name] = msgspec.json.decode(raw)
                continue
            values[field.name] = msgspec.convert(raw, field.type, strict=False)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise SettingsError(f"{name}: {e}") from e
    values.update(overrides)
    try:
        settings = msgspec.convert(values, Settings)
    except msgspec.ValidationError as e:
        raise SettingsError(f"invalid setting: {e}") from e
    if settings.pg_pool_max < settings.decision_writers + 3:
        raise SettingsError(
            f"pg_pool_max must be at least decision_writers + 3 ({settings.decision_writers + 3}):"
            " each decision writer keeps a connection, and a do-not-call import takes two"
        )
    return settings
