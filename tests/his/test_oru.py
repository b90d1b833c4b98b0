"""Results in, ORU^R01 queued (no sockets): what the ORU says, read back with python-hl7; the code
tables against the data center's; once per observation; unknown patients; what is stored."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import hl7
import pytest
from hospital import KEY
from record_system import first_component, obx_rows
from records import SITE, VITALS_PAIRS, Rig, lab, vitals

from datacenter import fhir
from his import oru
from his.outbox import head
from his.store import Store


def queued_message(rig: Rig) -> tuple[str, hl7.Message]:
    with rig.store.reading() as c:
        entry = head(c)
    assert entry is not None
    text = rig.service.sealer.open(entry.key_id, entry.sealed, b"oru:" + entry.control_id.encode())
    return entry.control_id, hl7.parse(text.decode())


def test_a_vitals_set_becomes_one_oru_with_loinc_ucum_news2_and_the_robot(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "his.db")
    ref = rig.admit("MRN-1", "A-01")
    record = vitals(ref, "m-7.A-01", resp=22, spo2=94, pulse=112, temperature=38.4)
    assert rig.intake.on_clinical("nurse-1", record, 1_767_602_000.0) == "queued"
    assert rig.queued == 1
    control, msg = queued_message(rig)
    assert control == oru.control_id(SITE, "nurse-1", "m-7.A-01") and len(control) == 20
    assert str(msg.segment("MSH")[9]) == "ORU^R01^ORU_R01" and str(msg["MSH.F10"]) == control
    assert str(msg["MSH.F12"]) == "2.5.1" and str(msg["MSH.F5"]) == "EHR" and str(msg["MSH.F3"]) == "MEDBOT"
    assert str(msg["PID.F3.R1.C1"]) == "MRN-1" and str(msg["PID.F3.R1.C5"]) == "MR"
    assert str(msg["PV1.F3.R1.C1"]) == "ward-a" and str(msg["PV1.F3.R1.C3"]) == "A-01"
    assert str(msg["OBR.F3.R1.C1"]) == "m-7.A-01" and str(msg["OBR.F4.R1.C1"]) == "85353-1"
    assert str(msg["OBR.F7"]) == "20260105083231+0000" and str(msg["OBR.F25"]) == "F"
    rows = obx_rows(msg)
    assert {code: unit for code, (_v, unit, _d) in rows.items()} == VITALS_PAIRS
    assert {r[2] for r in rows.values()} == {"nurse-1"}  # OBX-18: the robot that measured
    assert rows["9279-1"][0] == "22" and rows["59408-5"][0] == "94" and rows["8310-5"][0] == "38.4"
    assert rows["O2SUPP"][0] == "N^No^HL70136" and rows["ACVPU"][0] == "A^Alert^99MBT"
    # NEWS2: resp 22 -> 2, SpO2 94 -> 1, pulse 112 -> 2, temperature 38.4 -> 1
    assert rows["1104051000000101"][0] == str(record["news2"]["total"]) == "6"
    segments = [str(s[0]) for s in msg]
    assert segments == ["MSH", "PID", "PV1", "OBR", *["OBX"] * 10]
    assert [first_component(s, 1) for s in msg.segments("OBX")] == [str(n) for n in range(1, 11)]


def test_the_code_tables_are_the_data_centers(tmp_path: Path) -> None:
    """his/ may not import datacenter/, so the LOINC/UCUM pairs are written twice: they must agree."""
    ours = {c.key: (c.code, c.ucum) for c in (*oru.VITALS, *oru.LAB_TESTS)}
    theirs = {m.key: (m.loinc, m.ucum) for m in (*fhir.VITAL_SIGNS, *fhir.LAB_TESTS, fhir.BP_SYSTOLIC,
                                                 fhir.BP_DIASTOLIC)}
    theirs["spo2_pct"] = ("59408-5", "%")  # we send the pulse-oximetry code the data center adds as a coding
    assert ours == theirs
    assert fhir.LOINC_UNITS["59408-5"] == "%"
    assert oru.NEWS2.code == fhir.NEWS2_CODE[0]


def test_a_lab_result_carries_flags_and_the_specimen_and_says_it_is_partial(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "his.db")
    ref = rig.admit("MRN-2", "A-02")
    assert rig.intake.on_clinical("lab-1", lab(ref, "lab-1.smp-1"), 1_767_602_000.0) == "queued"
    _control, msg = queued_message(rig)
    assert str(msg["OBR.F4.R1.C1"]) == "11502-2" and str(msg["OBR.F25"]) == "P"
    rows = {first_component(s, 3): (str(s[5]), first_component(s, 6), str(s[8])) for s in msg.segments("OBX")}
    assert rows == {"2823-3": ("6.8", "mmol/L", "HH"), "2951-2": ("139", "mmol/L", "N")}
    assert str(msg["SPM.F2"]) == "SPEC-1" and str(msg["SPM.F4"]) == "serum"


def test_the_same_observation_is_queued_once_and_keeps_its_control_id(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "his.db")
    ref = rig.admit("MRN-1", "A-01")
    record = vitals(ref, "m-7.A-01")
    assert rig.intake.on_clinical("nurse-1", record, 1.0) == "queued"
    assert rig.intake.on_clinical("nurse-1", record, 2.0) == "duplicate"  # QoS 1 redelivery, spool replay
    rig.close()
    again = Rig(tmp_path / "his.db")
    assert again.intake.on_clinical("nurse-1", record, 3.0) == "duplicate"  # also after a restart
    assert again.intake.on_clinical("nurse-2", record, 3.0) == "queued"  # another robot's record is another one
    with again.store.reading() as c:
        ids = [r[0] for r in c.execute("SELECT control_id FROM outbox ORDER BY seq")]
    assert ids == [oru.control_id(SITE, "nurse-1", "m-7.A-01"), oru.control_id(SITE, "nurse-2", "m-7.A-01")]
    assert again.queued == 1


def test_an_unknown_ref_is_logged_with_the_ref_only_alerted_and_not_sent(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(tmp_path / "his.db")
    rig.admit("MRN-1", "A-01")
    with caplog.at_level(logging.INFO):
        assert rig.intake.on_clinical("nurse-1", vitals("pt-0123456789abcdef", "m-7.A-09"), 1.0) == "unknown_patient"
    assert rig.queued == 0
    with rig.store.reading() as c:
        assert head(c) is None
        assert c.execute("SELECT state, outcome FROM outbox").fetchall() == [("unsendable", "unknown patient ref")]
    [alert] = rig.alerts
    assert alert["category"] == "his.result" and "m-7.A-09" in alert["summary"]
    assert "pt-0123456789abcdef" not in repr(alert)  # alerts reach every operator: no ref
    assert "pt-0123456789abcdef" in caplog.text and "MRN" not in caplog.text
    assert rig.intake.on_clinical("nurse-1", vitals("pt-0123456789abcdef", "m-7.A-09"), 2.0) == "duplicate"
    assert len(rig.alerts) == 1


def test_records_that_are_not_results_or_measured_nothing_are_passed_over(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "his.db")
    ref = rig.admit("MRN-1", "A-01")
    meds = {"record_id": "m-3.o-1", "record_type": "medication_administration", "patient_ref": ref, "bed_ref": "A-01",
            "observations": {"drug": "x"}, "news2": None}
    assert rig.intake.on_clinical("nurse-1", meds, 1.0) == "not_a_result"
    absent = vitals(ref, "m-7.A-01")
    absent["observations"] = {"on_oxygen": False, "spo2_scale": 1, "consciousness_acvpu": None, "complete": False,
                              "incomplete_reason": "patient not in bed"}
    absent["news2"] = None
    assert rig.intake.on_clinical("nurse-1", absent, 1.0) == "nothing_measured"
    with rig.store.reading() as c:
        assert c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_no_identifier_in_the_files_while_orus_wait(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "his.db")
    ref = rig.admit("MRN-77777", "A-01")
    rig.intake.on_clinical("nurse-1", vitals(ref, "m-7.A-01"), 1.0)
    rig.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"MRN-77777" not in raw and b"Patient" not in raw
    assert b"9279-1" not in raw  # the queued ORU is sealed whole


def test_a_discharged_patients_late_result_still_goes_and_a_rotated_key_still_opens(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "his.db")
    ref = rig.admit("MRN-1", "A-01")
    assert b"MSA|AA" in rig.service.handle(b"MSH|^~\\&|PAS|GENERAL|MEDBOT|GENERAL|20260105093000||ADT^A03^ADT_A03|"
                                           b"D-1|P|2.5\rEVN|A03|20260105093000\rPID|1||MRN-1^^^GENERAL^MR||Test^P\r"
                                           b"PV1|1|I\r")
    rig.close()
    rotated = Rig(tmp_path / "his.db", key=bytes(range(32)), previous=(KEY,))
    assert rotated.intake.on_clinical("nurse-1", vitals(ref, "m-7.A-01"), 1.0) == "queued"
    _control, msg = queued_message(rotated)
    assert str(msg["PID.F3.R1.C1"]) == "MRN-1"
    assert "PV1" not in [str(s[0]) for s in msg]  # no longer in a bed


def test_a_schema_1_store_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1'), ('revision', '4');
        CREATE TABLE patients (lookup TEXT PRIMARY KEY, key_id TEXT NOT NULL, patient_ref TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL, ward TEXT, bed TEXT UNIQUE, prior_ward TEXT, prior_bed TEXT, updated_s REAL NOT NULL);
        INSERT INTO patients VALUES ('l', 'k', 'pt-00aa11', 'admitted', 'ward-a', 'A-01', NULL, NULL, 1.0);
    """)
    conn.close()
    store = Store(path)
    with store.reading() as c:
        assert c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
        assert c.execute("SELECT patient_ref, identifier FROM patients").fetchall() == [("pt-00aa11", None)]
        assert c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    assert store.revision() == 4


def test_the_his_account_may_read_every_robots_clinical_records_and_write_its_alerts() -> None:
    from telemetry.mosquitto_config import BrokerPlan, acl_text

    pki = Path("/etc/medbot/pki")
    plan = BrokerPlan(site="general-hospital", ca_file=pki / "ca.crt", cert_file=pki / "broker.crt",
                      key_file=pki / "broker.key", acl_file=Path("/etc/medbot/acl"),
                      password_file=Path("/etc/medbot/passwd"), viewers=("vw-0001",))
    acl = acl_text(plan)
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n") if b.startswith("user ")}
    base = "medbot/v1/general-hospital"
    his = blocks["user his-service"]
    assert f"topic read {base}/+/clinical" in his and f"topic write {base}/his/alerts" in his
    assert not any(line.startswith("topic write") and "clinical" in line for line in his)
    assert not any("clinical" in line for line in blocks["user vw-0001"])  # staff still never read clinical
