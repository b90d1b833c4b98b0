"""Sealing at rest: AES-256-GCM for what the HIS link must keep but nobody may read in its files.

An ORU must carry the hospital's identifier in PID-3, so the census keeps it — sealed — beside the
pseudonymous ref, and the outbox keeps each queued ORU sealed (it holds PID-3 too). The keys are
derived from the pseudonymisation keys (his/pseudonym.py, `at_rest_keys`), so rotation works the
same way: what was sealed under a previous key still opens while that key is in
``--previous-key-file``, and is sealed again under the current key when the census next writes it.

Each blob is ``nonce (12 random bytes) || ciphertext || tag`` with associated data naming what it
is (``b"patient:" + lookup``, ``b"oru:" + control id``), so a blob copied into another row does
not open there.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from his.pseudonym import Pseudonymizer

NONCE_BYTES = 12


class SealError(ValueError):
    """A blob that does not open: its key is no longer configured, or it was altered."""


class Sealer:
    def __init__(self, pseudonyms: Pseudonymizer) -> None:
        keys = pseudonyms.at_rest_keys()
        self.key_id = pseudonyms.key_id
        self._aead = {kid: AESGCM(k) for kid, k in keys.items()}

    def seal(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]:
        """(key id, blob) under the current key."""
        nonce = os.urandom(NONCE_BYTES)
        return self.key_id, nonce + self._aead[self.key_id].encrypt(nonce, plaintext, context)

    def open(self, key_id: str, blob: bytes, context: bytes) -> bytes:
        aead = self._aead.get(key_id)
        if aead is None:
            raise SealError(f"sealed under key {key_id}, which is not configured (add it to --previous-key-file)")
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except InvalidTag:
            raise SealError(f"a blob sealed under key {key_id} does not open: altered, or moved from another row") \
                from None
