"""Service configuration: one TOML file, read once at start-up into a frozen `ServiceConfig`.

Example (every key optional; relative paths are read relative to the file)::

    base_url = "https://cds.example.org"          # for `aud` checks; default: the request URL
    feedback_db = "b12ms-feedback.sqlite3"
    max_body_bytes = 5_000_000                     # larger request bodies get 413
    cors_origins = ["https://sandbox.cds-hooks.org"]
    as_of = "2026-11-01"                           # testing only: assess as on this date
    log_level = "info"
    clock_skew_seconds = 60
    max_token_lifetime_seconds = 3600
    report_ttl_seconds = 900
    fhir_timeout_seconds = 10
    fhir_servers = ["https://fhir.example.org/r4"]  # allow-list; default: any https server

    [issuers."https://ehr.example.org"]
    jwks_file = "keys/ehr.jwks.json"                      # keys exchanged out of band
    jku = ["https://ehr.example.org/.well-known/jwks.json"]  # or allow-listed JWK Set URLs
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from b12ms.errors import B12msError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class ConfigError(B12msError):
    """The service configuration file is missing, unreadable or invalid."""

    exit_code = 2


@dataclasses.dataclass(frozen=True, slots=True)
class IssuerConfig:
    """One allowed CDS client (`iss`) and where its public keys come from."""

    iss: str
    jwks_file: Path | None = None
    jku: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything the service reads from its configuration file and command line."""

    issuers: Mapping[str, IssuerConfig] = dataclasses.field(default_factory=dict)
    base_url: str | None = None
    feedback_db: Path = Path("b12ms-feedback.sqlite3")
    max_body_bytes: int = 5_000_000
    cors_origins: tuple[str, ...] = ()
    as_of: dt.date | None = None
    log_level: str = "info"
    clock_skew_seconds: int = 60
    max_token_lifetime_seconds: int = 3600
    report_ttl_seconds: int = 900
    fhir_timeout_seconds: float = 10.0
    fhir_servers: tuple[str, ...] = ()
    dev: bool = False  # authentication off: never in production

    def with_dev(self, dev: bool) -> ServiceConfig:
        """A copy with development mode set."""
        return dataclasses.replace(self, dev=dev)


_KEYS = {
    "issuers",
    "base_url",
    "feedback_db",
    "max_body_bytes",
    "cors_origins",
    "as_of",
    "log_level",
    "clock_skew_seconds",
    "max_token_lifetime_seconds",
    "report_ttl_seconds",
    "fhir_timeout_seconds",
    "fhir_servers",
}


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"config: {key} must be a list of non-empty strings")
    return tuple(value)


def _int(raw: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = raw.get(key, default)
    if type(value) is not int or value < minimum:
        raise ConfigError(f"config: {key} must be an integer >= {minimum}")
    return value


def parse_config(raw: Mapping[str, Any], root: Path) -> ServiceConfig:
    """Build a ServiceConfig from parsed TOML; `root` anchors relative paths."""
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"config: unknown key(s): {', '.join(unknown)}")
    issuers: dict[str, IssuerConfig] = {}
    raw_issuers = raw.get("issuers", {})
    if not isinstance(raw_issuers, dict):
        raise ConfigError("config: [issuers] must be a table of tables")
    for iss, spec in raw_issuers.items():
        if not isinstance(spec, dict) or set(spec) - {"jwks_file", "jku"}:
            raise ConfigError(f"config: issuer {iss!r} takes only jwks_file and jku")
        jwks_file = spec.get("jwks_file")
        if jwks_file is not None and not isinstance(jwks_file, str):
            raise ConfigError(f"config: issuer {iss!r}: jwks_file must be a path")
        jku = _strings(spec.get("jku", []), f"issuers.{iss}.jku")
        if any(not u.startswith("https://") for u in jku):
            raise ConfigError(f"config: issuer {iss!r}: every jku must be an https URL")
        if jwks_file is None and not jku:
            raise ConfigError(f"config: issuer {iss!r} needs jwks_file or jku")
        path = (root / jwks_file) if jwks_file else None
        issuers[iss] = IssuerConfig(iss=iss, jwks_file=path, jku=jku)
    base_url = raw.get("base_url")
    if base_url is not None:
        if not isinstance(base_url, str) or not base_url.startswith(("https://", "http://")):
            raise ConfigError("config: base_url must be an http(s) URL")
        base_url = base_url.rstrip("/")
    as_of = raw.get("as_of")
    if as_of is not None:
        if isinstance(as_of, str):
            try:
                as_of = dt.date.fromisoformat(as_of)
            except ValueError:
                raise ConfigError("config: as_of must be a date (YYYY-MM-DD)") from None
        if type(as_of) is not dt.date:
            raise ConfigError("config: as_of must be a date (YYYY-MM-DD)")
    log_level = raw.get("log_level", "info")
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"config: log_level must be one of {', '.join(LOG_LEVELS)}")
    feedback_db = raw.get("feedback_db", "b12ms-feedback.sqlite3")
    if not isinstance(feedback_db, str) or not feedback_db:
        raise ConfigError("config: feedback_db must be a path")
    timeout = raw.get("fhir_timeout_seconds", 10.0)
    if type(timeout) not in (int, float) or timeout <= 0:
        raise ConfigError("config: fhir_timeout_seconds must be a positive number")
    fhir_servers = _strings(raw.get("fhir_servers", []), "fhir_servers")
    return ServiceConfig(
        issuers=issuers,
        base_url=base_url,
        feedback_db=root / feedback_db,
        max_body_bytes=_int(raw, "max_body_bytes", 5_000_000, 1),
        cors_origins=_strings(raw.get("cors_origins", []), "cors_origins"),
        as_of=as_of,
        log_level=log_level,
        clock_skew_seconds=_int(raw, "clock_skew_seconds", 60, 0),
        max_token_lifetime_seconds=_int(raw, "max_token_lifetime_seconds", 3600, 1),
        report_ttl_seconds=_int(raw, "report_ttl_seconds", 900, 1),
        fhir_timeout_seconds=float(timeout),
        fhir_servers=tuple(u.rstrip("/") for u in fhir_servers),
    )


def load_config(path: str | Path | None) -> ServiceConfig:
    """Read the TOML configuration file; None gives the defaults (no issuers)."""
    if path is None:
        return ServiceConfig()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config: cannot read {p}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {p} is not valid TOML: {exc}") from None
    return parse_config(raw, p.resolve().parent)
