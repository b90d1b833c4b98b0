"""The simulated hospital's HL7 v2 messages, built with hl7apy as a sending system would build them.

ADT (A01 admit, A02 transfer, A03 discharge, A08 update) from the patient administration system,
OML^O21 specimen orders (new and cancelled) from the order-entry system: HL7 2.5, MSH-3
`MEDBOT-SIM`, PID-3 ``<MRN>^^^SIM-HOSPITAL^MR``, PV1-3 ``ward^^bed``. The HIS link's profile
(docs/his.md, "Message profiles") is what these fill; nothing here reads a reply (his_feed.py does).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hl7apy.core import Message, Segment

SENDING_APPLICATION = "MEDBOT-SIM"  # MSH-3: the simulated hospital's PAS and order entry
SENDING_FACILITY = "SIM-HOSPITAL"  # MSH-4, and PID-3's assigning authority
RECEIVING_APPLICATION = "MEDBOT"  # MSH-5: the HIS link
PLACER_NAMESPACE = "SIM-LIS"  # ORC-2.2 / OBR-2.2: the order-entry system that numbers the orders
VERSION = "2.5"
ADT_STRUCTURE = {"A01": "ADT_A01", "A02": "ADT_A02", "A03": "ADT_A03", "A08": "ADT_A01"}
#: the sim's specimen kinds (sim/lab_samples.py) as HL7 table 0487 specimen types
SPECIMEN_TYPES = {"serum": "SER^Serum^HL70487", "whole_blood": "BLD^Whole blood^HL70487"}


def hl7_time(stamp_s: float) -> str:
    return datetime.fromtimestamp(stamp_s, tz=UTC).strftime("%Y%m%d%H%M%S")


def _er7(message: Message) -> bytes:
    return (str(message.to_er7()).replace("\n", "\r").rstrip("\r") + "\r").encode("utf-8")


def _location(ward: str | None, bed: str) -> str:
    return f"{ward or ''}^^{bed}"


def adt(event: str, control_id: str, identifier: str, now_s: float, *, ward: str | None = None,
        bed: str | None = None, prior_ward: str | None = None, prior_bed: str | None = None) -> bytes:
    """ADT^<event> for one patient; PV1-3 the bed they are in (or go to), PV1-6 the one they left."""
    now = hl7_time(now_s)
    structure = ADT_STRUCTURE[event]
    msg = Message(structure, version=VERSION)
    msg.msh.msh_3 = SENDING_APPLICATION
    msg.msh.msh_4 = SENDING_FACILITY
    msg.msh.msh_5 = RECEIVING_APPLICATION
    msg.msh.msh_7 = now
    msg.msh.msh_9 = f"ADT^{event}^{structure}"
    msg.msh.msh_10 = control_id
    msg.msh.msh_11 = "P"
    msg.evn.evn_1 = event
    msg.evn.evn_2 = now
    msg.pid.pid_1 = "1"
    msg.pid.pid_3 = f"{identifier}^^^{SENDING_FACILITY}^MR"
    msg.pv1.pv1_2 = "I"
    if bed is not None:
        msg.pv1.pv1_3 = _location(ward, bed)
    if prior_bed is not None:
        msg.pv1.pv1_6 = _location(prior_ward, prior_bed)
    return _er7(msg)


def specimen_order(control: str, control_id: str, identifier: str, now_s: float, *, ward: str | None, bed: str,
                   sample_id: str, tests: tuple[str, ...], specimen: str, stat: bool) -> bytes:
    """OML^O21 with one order for one tube: ORC-1 NW (new) or CA (cancel); the placer order number
    is the sample id the nurse's label printer put on the tube (SPM-2 says it again)."""
    base = Message("OML_O21", version=VERSION)  # for MSH's encoding characters and layout
    msh = base.msh
    msh.msh_3 = SENDING_APPLICATION
    msh.msh_4 = SENDING_FACILITY
    msh.msh_5 = RECEIVING_APPLICATION
    msh.msh_7 = hl7_time(now_s)
    msh.msh_9 = "OML^O21^OML_O21"
    msh.msh_10 = control_id
    msh.msh_11 = "P"
    pid = Segment("PID", version=VERSION)
    pid.pid_1 = "1"
    pid.pid_3 = f"{identifier}^^^{SENDING_FACILITY}^MR"
    pv1 = Segment("PV1", version=VERSION)
    pv1.pv1_1 = "1"
    pv1.pv1_2 = "I"
    pv1.pv1_3 = _location(ward, bed)
    orc = Segment("ORC", version=VERSION)
    orc.orc_1 = control
    orc.orc_2 = f"{sample_id}^{PLACER_NAMESPACE}"
    tq1 = Segment("TQ1", version=VERSION)
    tq1.tq1_1 = "1"
    tq1.tq1_9 = "S" if stat else "R"
    obr = Segment("OBR", version=VERSION)
    obr.obr_1 = "1"
    obr.obr_2 = f"{sample_id}^{PLACER_NAMESPACE}"
    # the sim's test codes (K, NA, TROP, ...) are the lab's local codes: one OBR-4 for the panel
    obr.obr_4 = f"{'+'.join(tests)}^{' '.join(tests)} panel^99SIM"
    spm = Segment("SPM", version=VERSION)
    spm.spm_1 = "1"
    spm.spm_2 = sample_id
    spm.spm_4 = SPECIMEN_TYPES.get(specimen, "SER^Serum^HL70487")
    text = "\r".join(str(s.to_er7()) for s in (msh, pid, pv1, orc, tq1, obr, spm)) + "\r"
    return text.encode("utf-8")
