"""Outbound acknowledgements (original mode): ACK with MSA AA / AE / AR and, for an error, ERR.

Built with hl7apy in the sender's HL7 version, so each version's own layout is used: from 2.5 the
ERR segment carries the location (ERR-2), the HL7 table 0357 code (ERR-3), the severity (ERR-4)
and the reason as the user message (ERR-8); before 2.5 ERR-1 carries location and code together,
and the reason goes in MSA-3 (text message; withdrawn from 2.7 on, where ERR-8 alone says it).
"""

from __future__ import annotations

import hashlib
import time

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

from his.hl7in import ERROR_TEXT, Header, Hl7Error, _version_key

FALLBACK_VERSION = "2.5"
_MAX_REASON = 200


def _clean(text: str) -> str:
    """A reason as plain text in an ER7 field: no delimiters or escapes, bounded."""
    for ch in "|^~\\&\r\n#":
        text = text.replace(ch, " ")
    return " ".join(text.split())[:_MAX_REASON]


def _hl7_time(stamp_s: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(stamp_s)) + "+0000"


def build_ack(header: Header | None, ack_code: str, *, raw: bytes, now_s: float, application: str = "MEDBOT",
              facility: str = "", error: Hl7Error | None = None, text: str = "") -> bytes:
    """The ACK (ER7 bytes, unframed) for a message whose MSH read as ``header`` (None if it could not
    be read: then the ACK is HL7 2.5 and MSA-2 is empty). Its control id is a digest of the message
    answered, so a repeat of the same message is answered by the same ACK."""
    if ack_code not in ("AA", "AE", "AR"):
        raise ValueError(f"ack code {ack_code!r}: AA, AE or AR")
    version = header.version if header is not None and header.version else FALLBACK_VERSION
    try:
        ack = Message("ACK", version=version, validation_level=VALIDATION_LEVEL.TOLERANT)
    except Exception:  # a version hl7apy does not know: answer in ours
        version = FALLBACK_VERSION
        ack = Message("ACK", version=version, validation_level=VALIDATION_LEVEL.TOLERANT)
    v = _version_key(version)
    trigger = _clean(header.trigger)[:3] if header is not None else ""
    msh = ack.msh
    msh.msh_3 = _clean(application)
    if facility:
        msh.msh_4 = _clean(facility)
    if header is not None:
        if header.sending_application:
            msh.msh_5 = _clean(header.sending_application)
        if header.sending_facility:
            msh.msh_6 = _clean(header.sending_facility)
    msh.msh_7 = _hl7_time(now_s)
    msh.msh_9 = (f"ACK^{trigger}^ACK" if v >= (2, 5) else f"ACK^{trigger}") if trigger else "ACK"
    msh.msh_10 = "A" + hashlib.sha256(raw).hexdigest()[:19]
    msh.msh_11 = _clean(header.processing_id)[:1] if header is not None and header.processing_id else "P"
    msa = ack.msa
    msa.msa_1 = ack_code
    if header is not None and header.control_id:
        msa.msa_2 = _clean(header.control_id)[:20]
    reason = _clean(error.reason if error is not None else text)
    if reason and v < (2, 7):
        msa.msa_3 = reason[:80]
    if error is not None:
        err = ack.add_segment("ERR")
        code = f"{error.code}&{ERROR_TEXT.get(error.code, '')}&HL70357"
        if v >= (2, 5):
            if _valid_location(error.location):
                err.err_2 = error.location
            err.err_3 = code.replace("&", "^")
            err.err_4 = "E"
            err.err_8 = reason
        else:
            parts = error.location.split("^") if _valid_location(error.location) else []
            err.err_1 = "^".join([*[*parts, "", "", ""][:3], code])
    return str(ack.to_er7()).encode()


def _valid_location(location: str) -> bool:
    """``SEG``, ``SEG^n`` or ``SEG^n^f``: what ERR-2 / ERR-1 can carry."""
    parts = location.split("^")
    return (1 <= len(parts) <= 3 and len(parts[0]) == 3 and parts[0].isalnum()
            and all(p.isdigit() for p in parts[1:]))
