"""The HIS link's configuration file (YAML) and its pseudonymisation keys.

    application: MEDBOT            # our MSH-3 in ACKs
    facility: GENERAL-HOSPITAL     # our MSH-4
    versions: ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6"]
    processing_ids: [P]            # add T on a test system
    patient_id_type: MR            # the PID-3 repetition (CX.5) that identifies a patient
    orders:
      stations: {ward-a: ward-a-nurse-station, ward-b: ward-b-nurse-station}
      lab_place: clinical-lab
      pickup_window_min: 60
      stat_window_min: 20
      pickups: all                 # or stat: routine tubes go with the lab's own rounds
    results:                       # ORU^R01 out, with --record-system HOST:PORT
      receiving_application: EHR   # their MSH-5 / MSH-6
      receiving_facility: GENERAL-HOSPITAL
      connect_timeout_s: 10
      reply_timeout_s: 30          # an ACK not back by then: the link is broken, retried
      backoff_base_s: 0.5          # the first retry after ~0.5 s, doubling ...
      backoff_cap_s: 60            # ... up to a minute
      alert_after_failures: 5      # one alert when the record system stays away

Keys are files holding at least 32 hexadecimal digits (`medbot his new-key`), never the YAML:
the configuration is shared and versioned; a key is a secret.
"""

from __future__ import annotations

import binascii
import secrets
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from his.hl7in import DEFAULT_VERSIONS
from his.orders import OrderPolicy
from his.oru import OruSettings
from his.pseudonym import MIN_KEY_BYTES
from his.service import HisSettings


class HisConfigError(ValueError):
    pass


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class OrdersConfig(_Strict):
    stations: dict[str, str] = pydantic.Field(default_factory=dict)
    lab_place: str = "clinical-lab"
    pickup_window_min: float = pydantic.Field(60.0, gt=0, le=24 * 60)
    stat_window_min: float = pydantic.Field(20.0, gt=0, le=24 * 60)
    priority: int = pydantic.Field(60, ge=0, le=100)
    stat_priority: int = pydantic.Field(85, ge=0, le=100)
    #: which orders get a pick-up of their own: every one, or only stat orders (routine tubes then go
    #: with the lab's scheduled rounds, fleet/demand/lab_pickups.py; their orders are still on record
    #: here and a cancellation of one is acknowledged)
    pickups: Literal["all", "stat"] = "all"


class ResultsConfig(_Strict):
    receiving_application: str = pydantic.Field("", pattern=r"^[A-Za-z0-9_.-]{0,64}$")
    receiving_facility: str = pydantic.Field("", pattern=r"^[A-Za-z0-9_.-]{0,64}$")
    connect_timeout_s: float = pydantic.Field(10.0, gt=0, le=300)
    reply_timeout_s: float = pydantic.Field(30.0, gt=0, le=600)
    backoff_base_s: float = pydantic.Field(0.5, gt=0, le=600)
    backoff_cap_s: float = pydantic.Field(60.0, gt=0, le=3600)
    alert_after_failures: int = pydantic.Field(5, ge=1, le=10_000)
    #: how long the broker keeps our session (subscription, queued records) while we are away
    session_expiry_s: int = pydantic.Field(86_400, ge=0, le=7 * 86_400)

    @pydantic.model_validator(mode="after")
    def _cap_at_least_base(self) -> ResultsConfig:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff_cap_s must be at least backoff_base_s")
        return self


class HisConfig(_Strict):
    application: str = pydantic.Field("MEDBOT", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    facility: str = pydantic.Field("", pattern=r"^[A-Za-z0-9_.-]{0,64}$")
    versions: tuple[str, ...] = DEFAULT_VERSIONS
    processing_ids: tuple[str, ...] = ("P",)
    patient_id_type: str = pydantic.Field("MR", pattern=r"^[A-Z]{1,5}$")
    answered_keep_days: float = pydantic.Field(7.0, gt=0)
    resend_after_s: float = pydantic.Field(30.0, gt=0, le=3600)
    orders: OrdersConfig = OrdersConfig()
    results: ResultsConfig = ResultsConfig()

    def settings(self) -> HisSettings:
        return HisSettings(application=self.application, facility=self.facility, versions=self.versions,
                           processing_ids=self.processing_ids, patient_id_type=self.patient_id_type,
                           answered_keep_s=self.answered_keep_days * 86400.0, resend_after_s=self.resend_after_s)

    def oru_settings(self) -> OruSettings:
        r = self.results
        return OruSettings(application=self.application, facility=self.facility,
                           receiving_application=r.receiving_application, receiving_facility=r.receiving_facility,
                           processing_id=self.processing_ids[0] if self.processing_ids else "P",
                           patient_id_type=self.patient_id_type)

    def policy(self) -> OrderPolicy:
        o = self.orders
        return OrderPolicy(stations=dict(o.stations), lab_place=o.lab_place, pickup_window_min=o.pickup_window_min,
                           stat_window_min=o.stat_window_min, priority=o.priority, stat_priority=o.stat_priority,
                           stat_only=o.pickups == "stat")


def load_config(path: Path | None) -> HisConfig:
    if path is None:
        return HisConfig()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return HisConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise HisConfigError(f"{path}: {exc}") from None
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise HisConfigError(f"{path}: {where}: {first['msg']}") from None


def read_key(path: Path) -> bytes:
    """A key file: hexadecimal digits (whitespace ignored), at least 32 of them."""
    try:
        text = "".join(path.read_text(encoding="ascii").split())
        key = binascii.unhexlify(text)
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise HisConfigError(f"key file {path}: not hexadecimal digits ({type(exc).__name__})") from None
    if len(key) < MIN_KEY_BYTES:
        raise HisConfigError(f"key file {path}: {len(key)} bytes; at least {MIN_KEY_BYTES} (32 hex digits)")
    return key


def new_key_hex() -> str:
    return secrets.token_hex(32)
