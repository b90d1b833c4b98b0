"""Inbound HL7 v2: bytes → a checked, typed message, or an `Hl7Error` saying why not.

hl7apy does the parsing (ER7, escapes, the version's segment and datatype definitions) at its
STRICT level, which checks datatypes and lengths (a date that is not a date, an identifier over its
field's length). Its whole-message ``validate()`` is not used: in 1.3.5 it wrongly demands every
member of ORM^O01's choice group (OBR | RQD | RQ1 | ...) and files a second OML^O21 order under
ORDER_PRIOR, so it rejects valid orders. What this service needs of each message — our message
profile, docs/his.md — is checked here instead: the segments and fields we read must be present
and well formed, and a segment the version does not define (other than a Z-segment) is refused.

Error reasons go back to the sender in the ACK and into our logs, so they name segments, fields
and codes, **never a value that could identify a patient** (hl7apy's own messages quote values,
so they are not passed on).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from hl7apy import load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Element, Message, Segment
from hl7apy.exceptions import ChildNotFound, HL7apyException, UnsupportedVersion
from hl7apy.parser import parse_message, parse_segment

#: what we take (docs/his.md, "Message profiles"): ADT events and the two specimen order messages
ADT_EVENTS = frozenset({"A01", "A02", "A03", "A04", "A08", "A11", "A12", "A13"})
ORDER_MESSAGES = frozenset({("ORM", "O01"), ("OML", "O21")})
DEFAULT_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6")
#: order control codes we act on (HL7 table 0119): new order, cancel request
ORDER_CONTROLS = frozenset({"NW", "CA"})
#: OBR-24 diagnostic service sections that are imaging (HL7 table 0074): those orders come from the
#: DICOM worklist, not from here
IMAGING_SECTIONS = frozenset({"RAD", "CT", "MR", "NMR", "NMS", "US", "RX", "XRC", "VUS", "CUS"})

_SAFE_CODE = re.compile(r"[A-Za-z0-9_]{1,10}")
_SAFE_SEGMENT = re.compile(r"[A-Z][A-Z0-9]{2}")
#: bed, ward, specimen and order identifiers go into topics' bodies and task ids
_SAFE_NAME = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class Hl7Error(Exception):
    """A message we do not take. ``ack_code`` AR (rejected: not for us — type, version, framing) or
    AE (an error in its content); ``code`` from HL7 table 0357; ``location`` like ``PID^1^3``."""

    def __init__(self, ack_code: str, code: int, reason: str, location: str = "") -> None:
        super().__init__(reason)
        self.ack_code = ack_code
        self.code = code
        self.reason = reason
        self.location = location
        #: the message's MSH, when it could be read (the ACK answers its control id)
        self.header: Header | None = None


#: HL7 table 0357 (message error condition codes), the ones we send
ERROR_TEXT = {100: "Segment sequence error", 101: "Required field missing", 102: "Data type error",
              103: "Table value not found", 200: "Unsupported message type", 201: "Unsupported event code",
              202: "Unsupported processing id", 203: "Unsupported version id", 204: "Unknown key identifier",
              205: "Duplicate key identifier", 206: "Application record locked", 207: "Application internal error"}


@dataclass(frozen=True, slots=True)
class Header:
    control_id: str
    message_code: str  # MSH-9.1: ADT, ORM, OML
    trigger: str  # MSH-9.2: A01, O21, ...
    version: str
    processing_id: str
    sending_application: str
    sending_facility: str


@dataclass(frozen=True, slots=True)
class Location:
    ward: str | None  # PL.1 point of care
    bed: str | None  # PL.3 bed


@dataclass(frozen=True, slots=True)
class AdtMessage:
    header: Header
    patient_id: str  # the hospital's identifier: stays inside his/
    location: Location  # PV1-3 assigned patient location
    prior: Location  # PV1-6 prior patient location


@dataclass(frozen=True, slots=True)
class OrderItem:
    control: str  # ORC-1: NW or CA
    placer_order: str  # ORC-2 (or OBR-2) entity identifier
    placer_namespace: str
    specimen_id: str  # SPM-2 (OML), else the placer order number: what the tube's label carries
    specimen_type: str | None  # SPM-4.1, e.g. SER, BLD
    tests: tuple[str, ...]  # OBR-4.1 codes
    stat: bool  # priority S (TQ1-9, ORC-7.6 or OBR-27.6)
    imaging: bool  # OBR-24 says imaging: not a specimen order


@dataclass(frozen=True, slots=True)
class OrderMessage:
    header: Header
    patient_id: str
    location: Location
    items: tuple[OrderItem, ...]


def decode(raw: bytes) -> str:
    """ER7 text of a block: UTF-8 when it is valid UTF-8 (and so plain ASCII), else ISO 8859-1
    (which decodes any byte); CR LF and lone LF as segment ends are taken for CR."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r \t\x00") + "\r"


def _text(element: Element | None) -> str:
    if element is None:
        return ""
    try:
        return str(element.to_er7()).strip()
    except (HL7apyException, AttributeError, TypeError, ValueError):
        return ""


def _child(element: Element, name: str) -> Element | None:
    """A child by name (``pid_3``, ``pl_1``) or None; never raises for an unknown name."""
    try:
        return getattr(element, name)
    except (ChildNotFound, HL7apyException, AttributeError):
        return None


def _component(field: Element | None, index: int) -> str:
    """Component ``index`` (1-based) of a field, by the field's datatype (``cx_1``, ``pl_3``)."""
    if field is None:
        return ""
    datatype = str(getattr(field, "datatype", "") or "")
    if not datatype or datatype in ("ST", "ID", "IS", "NM", "SI", "TX", "varies"):
        return _text(field) if index == 1 else ""
    return _text(_child(field, f"{datatype.lower()}_{index}"))


def _repetitions(segment: Segment, name: str) -> list[Element]:
    try:
        found = segment.children.get(name.upper())
    except (ChildNotFound, HL7apyException):
        return []
    return list(found) if found else []


def segments(message: Message) -> Iterator[Segment]:
    """Every segment, in message order, whatever groups hl7apy put it in."""
    for child in message.children:
        if isinstance(child, Segment):
            yield child
        else:
            yield from segments(child)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def read_header(text: str) -> Header:
    """MSH alone (so that even a message we refuse is answered with its control id)."""
    if not text.startswith("MSH"):
        raise Hl7Error("AR", 100, "not an HL7 v2 message: it does not begin with an MSH segment", "MSH")
    first = text.split("\r", 1)[0]
    try:
        msh = parse_segment(first, version="2.5", validation_level=VALIDATION_LEVEL.TOLERANT)
    except (HL7apyException, ValueError, TypeError, IndexError, AttributeError, KeyError):
        raise Hl7Error("AR", 102, "the MSH segment cannot be read (encoding characters or field layout)",
                       "MSH") from None
    msg_type = _child(msh, "msh_9")
    return Header(
        control_id=_text(_child(msh, "msh_10"))[:64], message_code=_component(msg_type, 1).upper(),
        trigger=_component(msg_type, 2).upper(), version=_text(_child(msh, "msh_12")).split("^")[0],
        processing_id=_component(_child(msh, "msh_11"), 1) or _text(_child(msh, "msh_11")),
        sending_application=_component(_child(msh, "msh_3"), 1), sending_facility=_component(_child(msh, "msh_4"), 1))


def check_header(header: Header, *, versions: tuple[str, ...] = DEFAULT_VERSIONS,
                 processing_ids: tuple[str, ...] = ("P",)) -> None:
    if not header.control_id:
        raise Hl7Error("AR", 101, "MSH-10 (message control id) is empty", "MSH^1^10")
    if header.version not in versions:
        shown = header.version if _SAFE_NAME.fullmatch(header.version or "-") else "?"
        raise Hl7Error("AR", 203, f"HL7 version {shown!r} is not accepted here (accepted: {', '.join(versions)})",
                       "MSH^1^12")
    if header.processing_id not in processing_ids:
        shown = header.processing_id if _SAFE_CODE.fullmatch(header.processing_id or "-") else "?"
        raise Hl7Error("AR", 202, f"processing id {shown!r} is not accepted here (accepted: "
                       f"{', '.join(processing_ids)})", "MSH^1^11")
    code, trigger = header.message_code, header.trigger
    shown_code = code if _SAFE_CODE.fullmatch(code or "-") else "?"
    shown_trigger = trigger if _SAFE_CODE.fullmatch(trigger or "-") else "?"
    if code == "ADT":
        if trigger not in ADT_EVENTS:
            raise Hl7Error("AR", 201, f"ADT event {shown_trigger!r} is not handled (handled: "
                           f"{', '.join(sorted(ADT_EVENTS))})", "MSH^1^9")
    elif (code, trigger) not in ORDER_MESSAGES:
        raise Hl7Error("AR", 200, f"message type {shown_code}^{shown_trigger} is not handled (handled: ADT, "
                       "ORM^O01, OML^O21)", "MSH^1^9")
    if code == "OML" and _version_key(header.version) < (2, 5):
        raise Hl7Error("AR", 203, "OML^O21 needs HL7 2.5 or later (SPM)", "MSH^1^12")


def _parse_strict(text: str, version: str) -> Message:
    """hl7apy's STRICT parse; on failure, find the first segment that fails, for the location."""
    try:
        return parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    except UnsupportedVersion:
        raise Hl7Error("AR", 203, "HL7 version not supported by the parser", "MSH^1^12") from None
    except (HL7apyException, ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
        kind = type(exc).__name__
    lines = [line for line in text.split("\r") if line]
    counts: dict[str, int] = {}
    for line in lines:
        name = line[:3]
        counts[name] = counts.get(name, 0) + 1
        if not _SAFE_SEGMENT.fullmatch(name) or (len(line) > 3 and line[3] != lines[0][3]):
            raise Hl7Error("AE", 100, f"segment {counts[name]} is malformed (no segment id and field separator)",
                           f"segment {sum(counts.values())}")
        try:
            parse_segment(line, version=version, validation_level=VALIDATION_LEVEL.STRICT)
        except (HL7apyException, ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
            what = "a value longer than its field allows" if "MaxLength" in type(exc).__name__ else \
                "a value not of its field's data type"
            raise Hl7Error("AE", 102, f"{name} segment {counts[name]}: {what} (HL7 {version})",
                           f"{name}^{counts[name]}") from None
    raise Hl7Error("AE", 100, f"the message's structure cannot be parsed ({kind})", "MSH")


def _check_segments(message: Message, text: str, version: str) -> None:
    """Every segment of the text is one the version defines (or a Z-segment), and hl7apy placed
    every one of them in the message (it drops a segment it cannot place, silently)."""
    counts: dict[str, int] = {}
    names = [line[:3] for line in text.split("\r") if line]
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        if name.startswith("Z"):
            continue
        if not _SAFE_SEGMENT.fullmatch(name):
            raise Hl7Error("AE", 100, "a segment id is not three capital letters or digits",
                           f"segment {sum(counts.values())}")
        try:
            load_reference(name, "Segment", version)
        except (ChildNotFound, HL7apyException):
            raise Hl7Error("AE", 100, f"segment {name} is not defined in HL7 {version}", f"{name}^{counts[name]}") \
                from None
    if counts.get("MSH", 0) > 1:
        raise Hl7Error("AE", 100, "more than one MSH segment in one message", "MSH^2")
    # (Z-segments are ours to ignore, and hl7apy does not place them)
    standard = [n for n in names if not n.startswith("Z")]
    placed = sum(1 for s in segments(message) if not str(s.name).startswith("Z"))
    if placed != len(standard):
        raise Hl7Error("AE", 100, f"{len(standard) - placed} segment(s) out of the order HL7 {version} defines "
                       "for this message", "MSH")


def _first(message: Message, name: str) -> Segment | None:
    return next((s for s in segments(message) if s.name == name), None)


def _patient_id(pid: Segment | None, id_type: str) -> str:
    """PID-3: the repetition whose identifier type (CX.5) is ``id_type``, else the first."""
    if pid is None:
        raise Hl7Error("AE", 100, "no PID segment", "PID")
    reps = _repetitions(pid, "PID_3")
    chosen = next((r for r in reps if _component(r, 5).upper() == id_type), reps[0] if reps else None)
    value = _component(chosen, 1)
    if not value:
        raise Hl7Error("AE", 101, "PID-3 (patient identifier list) has no identifier", "PID^1^3")
    return value


def _location(pv1: Segment | None, field: str, what: str) -> Location:
    if pv1 is None:
        return Location(None, None)
    element = _child(pv1, field)
    ward, bed = _component(element, 1) or None, _component(element, 3) or None
    for name, value in (("point of care", ward), ("bed", bed)):
        if value is not None and not _SAFE_NAME.fullmatch(value):
            raise Hl7Error("AE", 102, f"{what} {name} must be 1-64 letters, digits or . _ : -",
                           f"PV1^1^{field.split('_')[1]}")
    return Location(ward, bed)


def parse_adt(message: Message, header: Header, *, id_type: str = "MR") -> AdtMessage:
    pv1 = _first(message, "PV1")
    if pv1 is None:
        raise Hl7Error("AE", 100, "no PV1 segment", "PV1")
    return AdtMessage(header, _patient_id(_first(message, "PID"), id_type),
                      _location(pv1, "pv1_3", "PV1-3 assigned location"),
                      _location(pv1, "pv1_6", "PV1-6 prior location"))


def _order_items(message: Message) -> list[OrderItem]:
    items: list[dict[str, object]] = []
    for segment in segments(message):
        name = segment.name
        if name == "ORC":
            control = _text(_child(segment, "orc_1")).upper()
            placer = _child(segment, "orc_2")
            items.append({"control": control, "placer": _component(placer, 1), "ns": _component(placer, 2),
                          "specimen": "", "type": None, "tests": [], "stat": _component(_child(segment, "orc_7"), 6),
                          "section": ""})
        elif not items:
            continue
        elif name == "TQ1":
            items[-1]["stat"] = _text(_child(segment, "tq1_9")).split("^")[0] or items[-1]["stat"]
        elif name == "OBR":
            item = items[-1]
            if not item["placer"]:
                placer = _child(segment, "obr_2")
                item["placer"], item["ns"] = _component(placer, 1), _component(placer, 2)
            code = _component(_child(segment, "obr_4"), 1)
            if code:
                item["tests"].append(code)  # type: ignore[attr-defined]
            item["section"] = _text(_child(segment, "obr_24")).upper() or item["section"]
            if not item["stat"]:
                item["stat"] = _component(_child(segment, "obr_27"), 6)
        elif name == "SPM" and not items[-1]["specimen"]:
            spm2 = _child(segment, "spm_2")
            items[-1]["specimen"] = _component(_child(spm2, "eip_1") if spm2 is not None else None, 1) \
                or _component(spm2, 1)
            items[-1]["type"] = _component(_child(segment, "spm_4"), 1) or None
    out: list[OrderItem] = []
    for n, item in enumerate(items, start=1):
        control, placer = str(item["control"]), str(item["placer"])
        if control not in ORDER_CONTROLS:
            shown = control if _SAFE_CODE.fullmatch(control or "-") else "?"
            raise Hl7Error("AE", 103, f"ORC-1 order control {shown!r} is not handled (handled: NW, CA)",
                           f"ORC^{n}^1")
        if not placer:
            raise Hl7Error("AE", 101, "no placer order number (ORC-2 or OBR-2)", f"ORC^{n}^2")
        specimen = str(item["specimen"]) or placer
        for what, value, where in (("placer order number", placer, f"ORC^{n}^2"),
                                   ("specimen id", specimen, f"SPM^{n}^2")):
            if not _SAFE_NAME.fullmatch(value):
                raise Hl7Error("AE", 102, f"the {what} must be 1-64 letters, digits or . _ : -", where)
        tests = tuple(str(t) for t in item["tests"])  # type: ignore[attr-defined]
        if control == "NW" and not tests:
            raise Hl7Error("AE", 101, "a new order without a test (OBR-4)", f"OBR^{n}^4")
        out.append(OrderItem(control, placer, str(item["ns"]), specimen,
                             None if item["type"] is None else str(item["type"]), tests,
                             str(item["stat"]).upper() == "S", str(item["section"]) in IMAGING_SECTIONS))
    if not out:
        raise Hl7Error("AE", 100, "an order message without an ORC segment", "ORC")
    return out


def parse_order(message: Message, header: Header, *, id_type: str = "MR") -> OrderMessage:
    return OrderMessage(header, _patient_id(_first(message, "PID"), id_type),
                        _location(_first(message, "PV1"), "pv1_3", "PV1-3 assigned location"),
                        tuple(_order_items(message)))


def parse(raw: bytes, *, versions: tuple[str, ...] = DEFAULT_VERSIONS, processing_ids: tuple[str, ...] = ("P",),
          id_type: str = "MR") -> AdtMessage | OrderMessage:
    """The whole inbound path short of applying it; raises Hl7Error (with the header when it was
    readable: ``error.header``)."""
    text = decode(raw)
    header = read_header(text)
    try:
        check_header(header, versions=versions, processing_ids=processing_ids)
        message = _parse_strict(text, header.version)
        _check_segments(message, text, header.version)
        if header.message_code == "ADT":
            return parse_adt(message, header, id_type=id_type)
        return parse_order(message, header, id_type=id_type)
    except Hl7Error as exc:
        exc.header = header
        raise
