"""ASTM E1381 (low level, CLSI LIS1-A) and E1394 (records, CLSI LIS2-A2), host side.

`link` frames bytes and runs the session state machine; `records` encodes and decodes the
records; `analyzer_driver` puts them together behind `hal.analyzer.Analyzer`.
"""

from hal.device import DeviceError


class AstmError(DeviceError):
    """Base of the ASTM driver's errors (a malformed record, a link that gave up)."""


class RecordError(AstmError):
    """A record or message that does not parse."""

    def __init__(self, reason: str) -> None:
        super().__init__("astm", reason)
