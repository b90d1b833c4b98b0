"""Results out: a robot's clinical record (the ``clinical`` channel) → one ORU^R01, and its ACK read back.

Profile (docs/his.md, "Results out"), HL7 2.5.1, built with hl7apy:

    MSH  -3/-4 us, -5/-6 the record system, -7 now, -9 ORU^R01^ORU_R01, -10 control id (from the
         record id: the same observation always gets the same one), -11 P, -12 2.5.1
    PID  -1 1, -3 the hospital's identifier ^^^^<identifier type> (from the census, by the pt- ref)
    PV1  -2 I, -3 ward^^bed (while the patient is in the census)
    OBR  -1 1, -3 our record id ^ <our application> (filler order number), -4 the panel: 85353-1
         vital signs / 11502-2 laboratory report, -7 when measured, -25 F (or P: an incomplete set)
    OBX  one per measurement: -1 set id, -2 NM or CWE, -3 LOINC (local 99MBT codes for NEWS2's
         supplemental oxygen, SpO2 scale and ACVPU), -5 value, -6 UCUM unit ^^UCUM, -8 the lab
         flag (HL7 table 0078), -11 F, -14 when measured, -18 the robot (equipment instance
         identifier: robot id ^ our application)
    OBX  the NEWS2 total, SNOMED CT 1104051000000101 (the code the data center's FHIR export uses)
    SPM  lab results: -2 the specimen id on the tube, -4 specimen type

The code tables repeat the data center's (datacenter/fhir.py; `his/` may not import it, and
tests/his/test_oru.py checks that the two agree). A measurement name no table knows is left out
and named in the result, never silently: the caller logs it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Group, Message
from hl7apy.exceptions import ChildNotFound
from hl7apy.parser import parse_message, parse_segment

from his.census import Subject

VERSION = "2.5.1"
LOINC = "LN"
LOCAL = "99MBT"  # HL7 table 0396: 99zzz, a locally defined coding system
SNOMED = "SCT"
RESULT_TYPES = frozenset({"vitals", "lab_result"})


@dataclass(frozen=True, slots=True)
class Code:
    key: str  # the record's observation name
    code: str
    display: str
    ucum: str | None
    system: str = LOINC


#: vital signs, in the order a chart reads them (NEWS2's parameters first)
VITALS: tuple[Code, ...] = (
    Code("resp_rate_per_min", "9279-1", "Respiratory rate", "/min"),
    Code("spo2_pct", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    Code("systolic_mmhg", "8480-6", "Systolic blood pressure", "mm[Hg]"),
    Code("diastolic_mmhg", "8462-4", "Diastolic blood pressure", "mm[Hg]"),
    Code("pulse_bpm", "8867-4", "Heart rate", "/min"),
    Code("temperature_c", "8310-5", "Body temperature", "Cel"),
    Code("weight_kg", "29463-7", "Body weight", "kg"),
    Code("glucose_mmol_per_l", "15074-8", "Glucose [Moles/volume] in Blood", "mmol/L"),
)
ON_OXYGEN = Code("on_oxygen", "O2SUPP", "Supplemental oxygen (NEWS2 air or oxygen)", None, LOCAL)
SPO2_SCALE = Code("spo2_scale", "SPO2SCALE", "NEWS2 SpO2 scale", None, LOCAL)
ACVPU = Code("consciousness_acvpu", "ACVPU", "Level of consciousness (ACVPU)", None, LOCAL)
ACVPU_TEXT = {"A": "Alert", "C": "New confusion", "V": "Voice", "P": "Pain", "U": "Unresponsive"}
NEWS2 = Code("news2", "1104051000000101",
             "Royal College of Physicians NEWS2 (National Early Warning Score 2) total score", None, SNOMED)
#: the lab robot's analytes (missions/lab/reference.py TEST_MENU)
LAB_TESTS: tuple[Code, ...] = (
    Code("glu_mmol_per_l", "14749-6", "Glucose [Moles/volume] in Serum or Plasma", "mmol/L"),
    Code("k_mmol_per_l", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L"),
    Code("na_mmol_per_l", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L"),
    Code("crea_umol_per_l", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L"),
    Code("crp_mg_per_l", "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L"),
    Code("trop_ng_per_l", "67151-1", "Troponin T.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method",
         "ng/L"),
    Code("hb_g_per_l", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/L"),
    Code("wbc_e9_per_l", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*9/L"),
    Code("plt_e9_per_l", "777-3", "Platelets [#/volume] in Blood by Automated count", "10*9/L"),
)
VITALS_PANEL = ("85353-1", "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel")
LAB_REPORT = ("11502-2", "Laboratory report")
#: record fields that are context, not results
VITALS_CONTEXT = frozenset({"temperature_site", "measured_at", "complete", "incomplete_reason"})
LAB_CONTEXT = frozenset({"sample_id", "specimen", "analyzer", "priority", "measured_at", "complete",
                         "incomplete_reason"})
LAB_FLAGS = frozenset({"N", "L", "H", "LL", "HH", "A", "AA"})


class NotAResult(ValueError):
    """A record that makes no ORU: a type that is not a result, or a set with nothing measured."""


def control_id(site: str, robot_id: str, record_id: str) -> str:
    """MSH-10 (ST, 20 characters in 2.5.1): ``R`` + 19 hex digits of SHA-256 over the record's key.
    Deterministic, so an observation delivered twice, or queued again after a restart, has one id."""
    return "R" + hashlib.sha256(f"medbot/oru/v1\x00{site}\x00{robot_id}\x00{record_id}".encode()).hexdigest()[:19]


def hl7_time(stamp_s: float) -> str:
    return datetime.fromtimestamp(stamp_s, UTC).strftime("%Y%m%d%H%M%S+0000")


def _measured_at(record: dict[str, Any], fallback_s: float) -> str:
    text = record.get("observations", {}).get("measured_at")
    if isinstance(text, str):
        try:
            return hl7_time(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return hl7_time(fallback_s)


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return f"{value:.10g}"


def _safe(text: str, limit: int = 64) -> str:
    """A value of ours (ids, codes) as plain ER7 text: no delimiters, bounded."""
    for ch in "|^~\\&\r\n":
        text = text.replace(ch, " ")
    return text[:limit]


@dataclass(frozen=True, slots=True)
class Obx:
    value_type: str  # NM, CWE
    code: Code
    value: str
    flag: str = ""

    @property
    def loinc_ucum(self) -> tuple[str, str | None]:
        return self.code.code, self.code.ucum


@dataclass(frozen=True, slots=True)
class Oru:
    message: bytes  # ER7, segments ending in CR, unframed
    control_id: str
    observations: tuple[Obx, ...]
    unmapped: tuple[str, ...]  # observation names no table knows: left out, to be logged


#: a vitals set's OBX order: NEWS2's parameters as the chart lists them, then the rest
VITALS_ORDER = ("resp_rate_per_min", "spo2_scale", "spo2_pct", "on_oxygen", "systolic_mmhg", "diastolic_mmhg",
                "pulse_bpm", "consciousness_acvpu", "temperature_c", "weight_kg", "glucose_mmol_per_l")


def _vitals_obx(record: dict[str, Any]) -> tuple[list[Obx], list[str]]:
    obs: dict[str, Any] = record["observations"]
    rows: list[Obx] = []
    unmapped: list[str] = []
    by_key = {c.key: c for c in (*VITALS, ON_OXYGEN, SPO2_SCALE, ACVPU)}
    for key in VITALS_ORDER:
        code, value = by_key[key], obs.get(key)
        if value is None:
            continue
        if code is ON_OXYGEN and isinstance(value, bool):
            rows.append(Obx("CWE", code, "Y^Yes^HL70136" if value else "N^No^HL70136"))
        elif code is SPO2_SCALE and value in (1, 2) and not isinstance(value, bool):
            rows.append(Obx("NM", code, str(value)))
        elif code is ACVPU and value in ACVPU_TEXT:
            rows.append(Obx("CWE", code, f"{value}^{ACVPU_TEXT[value]}^{LOCAL}"))
        elif code.system == LOINC and _number(value) is not None:
            rows.append(Obx("NM", code, str(_number(value))))
        else:
            unmapped.append(key)  # a value of the wrong kind: named, not sent
    news2 = record.get("news2")
    if isinstance(news2, dict) and _number(news2.get("total")) is not None:
        rows.append(Obx("NM", NEWS2, str(int(news2["total"]))))
    unmapped += sorted(k for k, v in obs.items() if k not in by_key and k not in VITALS_CONTEXT and v is not None)
    return rows, unmapped


def _lab_obx(record: dict[str, Any]) -> tuple[list[Obx], list[str]]:
    obs: dict[str, Any] = record["observations"]
    by_key = {c.key: c for c in LAB_TESTS}
    rows: list[Obx] = []
    for code in LAB_TESTS:
        value = _number(obs.get(code.key))
        if value is None:
            continue  # not released (the record says why)
        flag = obs.get(code.key.split("_", 1)[0] + "_flag")
        rows.append(Obx("NM", code, value, flag if flag in LAB_FLAGS else ""))
    unmapped = sorted(k for k, v in obs.items()
                      if k not in by_key and k not in LAB_CONTEXT and not k.endswith("_flag") and v is not None)
    return rows, unmapped


def observations_of(record: dict[str, Any]) -> tuple[list[Obx], list[str]]:
    """The OBX rows of a record and the names left out; NotAResult if it makes no ORU."""
    kind = record.get("record_type")
    if kind not in RESULT_TYPES:
        raise NotAResult(f"record_type {kind!r} is not a result we send (only {', '.join(sorted(RESULT_TYPES))})")
    rows, unmapped = _vitals_obx(record) if kind == "vitals" else _lab_obx(record)
    if not any(r.code.system == LOINC for r in rows):
        raise NotAResult(f"record {record.get('record_id')!r}: nothing measured")
    return rows, unmapped


@dataclass(frozen=True, slots=True)
class OruSettings:
    application: str = "MEDBOT"
    facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    processing_id: str = "P"
    patient_id_type: str = "MR"


def build_oru(record: dict[str, Any], robot_id: str, subject: Subject, control: str, settings: OruSettings,
              now_s: float, received_s: float) -> Oru:
    """The ORU^R01 for one result record (see the module's profile); NotAResult if it makes none."""
    rows, unmapped = observations_of(record)
    measured = _measured_at(record, received_s)
    lab = record["record_type"] == "lab_result"
    msg = Message("ORU_R01", version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
    msh = msg.msh
    msh.msh_3 = _safe(settings.application)
    for name, value in (("msh_4", settings.facility), ("msh_5", settings.receiving_application),
                        ("msh_6", settings.receiving_facility)):
        if value:
            setattr(msh, name, _safe(value))
    msh.msh_7 = hl7_time(now_s)
    msh.msh_9 = "ORU^R01^ORU_R01"
    msh.msh_10 = control
    msh.msh_11 = _safe(settings.processing_id, 1)
    msh.msh_12 = VERSION
    result: Group = msg.add_group("ORU_R01_PATIENT_RESULT")
    patient: Group = result.add_group("ORU_R01_PATIENT")
    pid = patient.add_segment("PID")
    pid.pid_1 = "1"
    pid.pid_3 = f"{_safe(subject.identifier, 250)}^^^^{_safe(settings.patient_id_type, 5)}"
    if subject.location.bed is not None:
        visit: Group = patient.add_group("ORU_R01_VISIT")
        pv1 = visit.add_segment("PV1")
        pv1.pv1_2 = "I"
        pv1.pv1_3 = f"{_safe(subject.location.ward or '')}^^{_safe(subject.location.bed)}"
    order: Group = result.add_group("ORU_R01_ORDER_OBSERVATION")
    obr = order.add_segment("OBR")
    obr.obr_1 = "1"
    obr.obr_3 = f"{_safe(str(record['record_id']), 199)}^{_safe(settings.application, 20)}"
    panel = LAB_REPORT if lab else VITALS_PANEL
    obr.obr_4 = f"{panel[0]}^{panel[1]}^{LOINC}"
    obr.obr_7 = measured
    complete = record["observations"].get("complete", True) is not False
    obr.obr_25 = "F" if complete else "P"
    device = f"{_safe(robot_id)}^{_safe(settings.application, 20)}"
    for n, row in enumerate(rows, start=1):
        obx = order.add_group("ORU_R01_OBSERVATION").add_segment("OBX")
        obx.obx_1 = str(n)
        obx.obx_2 = row.value_type
        obx.obx_3 = f"{row.code.code}^{row.code.display}^{row.code.system}"
        obx.obx_5 = row.value
        if row.code.ucum is not None:
            obx.obx_6 = f"{row.code.ucum}^^UCUM"
        if row.flag:
            obx.obx_8 = row.flag
        obx.obx_11 = "F"
        obx.obx_14 = measured
        obx.obx_18 = device
    sample = record["observations"].get("sample_id")
    if lab and isinstance(sample, str) and sample:
        spm = order.add_group("ORU_R01_SPECIMEN").add_segment("SPM")
        spm.spm_1 = "1"
        spm.spm_2 = _safe(sample)
        specimen = record["observations"].get("specimen")
        if isinstance(specimen, str) and specimen:
            spm.spm_4 = _safe(specimen, 20)
    text = str(msg.to_er7()).replace("\n", "\r")
    return Oru((text.rstrip("\r") + "\r").encode("utf-8"), control, tuple(rows), tuple(unmapped))


@dataclass(frozen=True, slots=True)
class AckReply:
    code: str  # MSA-1: AA AE AR (CA CE CR in enhanced mode)
    control_id: str  # MSA-2: the control id it answers
    reason: str  # ERR-8, else MSA-3 (the record system's words: may need redacting before a log)
    error_code: str  # ERR-3.1 (2.5+) or ERR-1.4.1

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


class BadAck(ValueError):
    """A reply that is not an ACK we can read: the link, not the message, is at fault."""


def _field(segment: Any, name: str) -> str:
    """A field's ER7 text, "" when absent (or not defined in the ACK's version)."""
    try:
        field = getattr(segment, name)
        return str(field.to_er7()).strip() if field else ""
    except ChildNotFound:
        return ""


def parse_ack(reply: bytes) -> AckReply:
    """Read the record system's ACK with hl7apy (tolerant). Only MSA and ERR are parsed, as 2.5.1
    segments (their fields 1-3 and ERR-1/3/8 keep their places from 2.3 on): a whole-message parse
    costs ten times as much, and the outbox drains at the pace of this. A reply with other
    encoding characters than ``|^~\\&`` is parsed whole."""
    text = reply.decode("utf-8", errors="replace").replace("\r\n", "\r").replace("\n", "\r").strip("\r ")
    if not text.startswith("MSH"):
        raise BadAck("the reply does not begin with an MSH segment")
    try:
        if text[3:8] == "|^~\\&":
            lines = text.split("\r")
            msa_text = next((line for line in lines if line.startswith("MSA|")), None)
            if msa_text is None:
                raise BadAck("the reply has no MSA segment")
            msa = parse_segment(msa_text, version=VERSION, validation_level=VALIDATION_LEVEL.TOLERANT)
            err_text = next((line for line in lines if line.startswith("ERR|")), None)
            err = None if err_text is None else parse_segment(err_text, version=VERSION,
                                                              validation_level=VALIDATION_LEVEL.TOLERANT)
        else:
            msg = parse_message(text + "\r", validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
            msa = msg.msa
            err = next((seg for seg in msg.children if seg.name == "ERR"), None)
        code, answered = _field(msa, "msa_1"), _field(msa, "msa_2")
        reason, error_code = _field(msa, "msa_3"), ""
        if err is not None:
            reason = _field(err, "err_8") or reason
            if _field(err, "err_3"):  # 2.5+: ERR-3 CWE, the code first
                error_code = _field(err, "err_3").split("^")[0]
            else:  # before 2.5: ERR-1 ELD, its 4th component the code (CE)
                parts = _field(err, "err_1").split("^")
                error_code = parts[3].split("&")[0] if len(parts) > 3 else ""
    except BadAck:
        raise
    except Exception as exc:  # hl7apy raises many kinds; all mean "not an ACK we can read"
        raise BadAck(f"the reply is not a readable HL7 ACK ({type(exc).__name__})") from None
    if code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
        raise BadAck(f"the reply's MSA-1 is {code[:4]!r}, not an acknowledgment code")
    return AckReply(code, answered, reason, error_code)
