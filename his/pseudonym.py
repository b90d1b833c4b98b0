"""Pseudonymous patient refs: what robots, topics and the fleet see instead of the hospital's id.

``pt-`` + the first 16 hex digits of HMAC-SHA256(key, "medbot/patient-ref/v1" NUL identifier):
the simulator's ``pt-`` + lower-case hex format (sim/patients.py; the contract allows 6-32
digits), 64 bits so that a hospital's lifetime of patients does not collide. Without the key the
ref cannot be computed from an identifier, nor an identifier guessed from a ref by trying MRNs.

The census keeps no identifier either: it finds a patient by a second keyed hash (the *lookup*,
another HMAC domain), and stores the ref it published. Rotation (docs/his.md): the new key becomes
the key, the old one goes to ``previous_keys``. A patient in the census keeps the ref they were
published under until discharge (a robot mid-round must not see its patient change ref); their
lookup is re-keyed the first time a message about them arrives. New patients get refs under the
new key. Once no row is left under an old key (`CensusStore.rows_by_key`), drop it from the
configuration.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

MIN_KEY_BYTES = 16
REF_HEX_DIGITS = 16
_REF_DOMAIN = b"medbot/patient-ref/v1\x00"
_LOOKUP_DOMAIN = b"medbot/patient-lookup/v1\x00"
_ORDER_DOMAIN = b"medbot/order-key/v1\x00"
_AT_REST_DOMAIN = b"medbot/his-at-rest/v1\x00"


def key_id(key: bytes) -> str:
    """A short fingerprint that names a key in the database and logs (it reveals nothing of it)."""
    return hashlib.sha256(b"medbot/his-key-id\x00" + key).hexdigest()[:12]


def _mac(key: bytes, domain: bytes, value: str) -> str:
    return hmac.new(key, domain + value.encode("utf-8"), hashlib.sha256).hexdigest()


class Pseudonymizer:
    def __init__(self, key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        for k in (key, *previous_keys):
            if len(k) < MIN_KEY_BYTES:
                raise ValueError(f"a pseudonymisation key must be at least {MIN_KEY_BYTES} bytes "
                                 f"(got {len(k)}); generate one with `medbot his new-key`")
        self._key = key
        self._previous = tuple(previous_keys)
        self.key_id = key_id(key)

    def ref(self, identifier: str) -> str:
        """The ``pt-`` ref of a patient under the current key."""
        return "pt-" + _mac(self._key, _REF_DOMAIN, identifier)[:REF_HEX_DIGITS]

    def lookups(self, identifier: str) -> list[tuple[str, str]]:
        """(key id, lookup) under the current key, then under each previous key."""
        return [(key_id(k), _mac(k, _LOOKUP_DOMAIN, identifier)) for k in (self._key, *self._previous)]

    def lookup(self, identifier: str) -> str:
        return _mac(self._key, _LOOKUP_DOMAIN, identifier)

    def at_rest_keys(self) -> dict[str, bytes]:
        """key id -> the 256-bit AES key derived from that pseudonymisation key (its own HMAC domain),
        which seals what must be stored but must not be readable in the files: the identifier the
        census needs for an ORU's PID-3, and the queued ORUs (his/sealing.py). The current key first."""
        return {key_id(k): hmac.new(k, _AT_REST_DOMAIN, hashlib.sha256).digest() for k in (self._key, *self._previous)}

    def order_keys(self, namespace: str, placer_order: str) -> list[str]:
        """An order's key in our database and its task id's suffix (placer numbers stay inside), under
        the current key first, then under each previous one (an order placed before a rotation)."""
        return [_mac(k, _ORDER_DOMAIN, f"{namespace}\x00{placer_order}")[:24] for k in (self._key, *self._previous)]
