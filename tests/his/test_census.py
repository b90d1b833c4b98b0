"""The census from ADT, through the service's handler (no sockets): each event's rule, that a refused
message changes nothing, repeats, restarts and key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hospital import KEY, POLICY, Ack, Clock, RecordingBus, adt, pseudonyms

from his.pseudonym import Pseudonymizer
from his.service import HisService
from his.store import Store
from telemetry.envelope import make_envelope
from telemetry.examples import example_body
from telemetry.topics import HIS_ID, Channel
from telemetry.validate import validate


def make(tmp_path: Path, key: bytes = KEY, previous: tuple[bytes, ...] = ()) -> tuple[HisService, RecordingBus]:
    bus = RecordingBus()
    service = HisService(Store(tmp_path / "his.db"), Pseudonymizer(key, previous), POLICY, bus, clock_s=Clock())
    return service, bus


def send(service: HisService, text: str) -> Ack:
    return Ack.parse(service.handle(text.encode()).decode())


def beds(service: HisService) -> dict[str, tuple[str | None, str]]:
    return {b["bed_id"]: (b["ward"], b["patient_ref"]) for b in service.census()["beds"]}


REF = pseudonyms().ref


def test_admit_transfer_discharge(tmp_path: Path) -> None:
    service, bus = make(tmp_path)
    assert send(service, adt("A01", "MRN-1", "A-01", "ward-a")).code == "AA"
    assert send(service, adt("A01", "MRN-2", "A-02", "ward-a")).code == "AA"
    assert beds(service) == {"A-01": ("ward-a", REF("MRN-1")), "A-02": ("ward-a", REF("MRN-2"))}
    assert send(service, adt("A02", "MRN-1", "B-03", "ward-b")).code == "AA"
    assert beds(service) == {"A-02": ("ward-a", REF("MRN-2")), "B-03": ("ward-b", REF("MRN-1"))}
    assert send(service, adt("A03", "MRN-2")).code == "AA"
    assert beds(service) == {"B-03": ("ward-b", REF("MRN-1"))}
    # every change published whole, revisions counting up, each a valid census body
    assert [c["revision"] for c in bus.census] == [1, 2, 3, 4]
    for body in bus.census:
        validate(Channel.CENSUS, make_envelope(Channel.CENSUS, HIS_ID, 0, 0.0, body))
    assert "MRN" not in repr(bus.census)


def test_refs_are_keyed_hashes_in_the_simulators_format() -> None:
    ref = REF("MRN-1")
    assert ref.startswith("pt-") and len(ref) == 19 and int(ref[3:], 16) >= 0
    assert ref == REF("MRN-1") != REF("MRN-2")
    assert Pseudonymizer(b"k" * 32).ref("MRN-1") != ref  # another key, another ref
    body = {**example_body(Channel.CENSUS), "beds": [{"bed_id": "A-01", "ward": "ward-a", "patient_ref": ref}]}
    validate(Channel.CENSUS, make_envelope(Channel.CENSUS, HIS_ID, 0, 0.0, body))


@pytest.mark.parametrize(("setup", "message", "code", "words"), [
    ([], adt("A02", "MRN-9", "B-01", "ward-b"), "204", "not in the census"),
    ([], adt("A03", "MRN-9"), "204", "not in the census"),
    ([], adt("A08", "MRN-9", "B-01", "ward-b"), "204", "not in the census"),
    ([], adt("A11", "MRN-9"), "204", "not in the census"),
    ([], adt("A12", "MRN-9"), "204", "not in the census"),
    ([], adt("A13", "MRN-9", "A-05", "ward-a"), "204", "not in the census"),
    ([], adt("A01", "MRN-9"), "101", "no bed"),
    ([adt("A01", "MRN-1", "A-01", "ward-a")], adt("A01", "MRN-9", "A-01", "ward-a"), "205", "occupied"),
    ([adt("A01", "MRN-1", "A-01", "ward-a")], adt("A01", "MRN-1", "A-03", "ward-a"), "205", "already in bed A-01"),
    ([adt("A01", "MRN-1", "A-01", "ward-a"), adt("A01", "MRN-2", "A-02", "ward-a")],
     adt("A02", "MRN-1", "A-02", "ward-a"), "205", "occupied"),
    ([adt("A01", "MRN-1", "A-01", "ward-a")], adt("A02", "MRN-1"), "101", "no bed"),
    ([adt("A01", "MRN-1", "A-01", "ward-a")], adt("A12", "MRN-1"), "101", "no previous bed"),
    ([adt("A01", "MRN-1", "A-01", "ward-a")], adt("A13", "MRN-1"), "204", "not discharged"),
])
def test_a_refused_event_is_answered_ae_with_the_reason_and_changes_nothing(
        tmp_path: Path, setup: list[str], message: str, code: str, words: str) -> None:
    service, bus = make(tmp_path)
    for text in setup:
        assert send(service, text).code == "AA"
    before, published = service.census(), len(bus.census)
    ack = send(service, message)
    assert (ack.code, ack.error_code) == ("AE", code)
    assert words in ack.text and "MRN" not in ack.text
    assert service.census() == before and len(bus.census) == published


def test_cancels_undo_admission_transfer_and_discharge(tmp_path: Path) -> None:
    service, _ = make(tmp_path)
    send(service, adt("A01", "MRN-1", "A-01", "ward-a"))
    assert send(service, adt("A02", "MRN-1", "B-02", "ward-b")).code == "AA"
    assert send(service, adt("A12", "MRN-1")).code == "AA"  # back to the bed on record
    assert beds(service) == {"A-01": ("ward-a", REF("MRN-1"))}
    assert send(service, adt("A03", "MRN-1")).code == "AA"
    assert beds(service) == {}
    assert send(service, adt("A13", "MRN-1")).code == "AA"  # back into the bed they left
    assert beds(service) == {"A-01": ("ward-a", REF("MRN-1"))}
    assert send(service, adt("A11", "MRN-1")).code == "AA"
    assert beds(service) == {}
    assert send(service, adt("A02", "MRN-1", "B-01", "ward-b")).code == "AE"  # gone, as if never admitted


def test_a08_corrects_a_bed_and_a04_registers_without_one(tmp_path: Path) -> None:
    service, _ = make(tmp_path)
    assert send(service, adt("A04", "MRN-3")).code == "AA"
    assert beds(service) == {}
    assert send(service, adt("A08", "MRN-3", "A-04", "ward-a")).code == "AA"
    assert beds(service) == {"A-04": ("ward-a", REF("MRN-3"))}
    ack = send(service, adt("A08", "MRN-3", "A-04", "ward-a"))
    assert ack.code == "AA" and "no change" in ack.text


def test_a_repeated_message_gets_the_same_ack_and_a_reused_control_id_is_refused(tmp_path: Path) -> None:
    service, bus = make(tmp_path)
    first = adt("A01", "MRN-1", "A-01", "ward-a", control_id="C-1")
    ack1 = service.handle(first.encode())
    assert service.handle(first.encode()) == ack1
    assert len(bus.census) == 1 and service.counts["repeats"] == 1
    ack = send(service, adt("A01", "MRN-2", "A-02", "ward-a", control_id="C-1"))
    assert (ack.code, ack.error_code) == ("AE", "205")
    assert set(beds(service)) == {"A-01"}


def test_the_census_survives_a_restart(tmp_path: Path) -> None:
    service, _ = make(tmp_path)
    send(service, adt("A01", "MRN-1", "A-01", "ward-a"))
    service.store.close()
    again, bus = make(tmp_path)
    body = again.publish_census()
    assert body["revision"] == 1 and bus.census == [body]
    assert beds(again) == {"A-01": ("ward-a", REF("MRN-1"))}
    assert send(again, adt("A02", "MRN-1", "A-02", "ward-a")).code == "AA"


def test_no_identifier_is_stored(tmp_path: Path) -> None:
    service, _ = make(tmp_path)
    send(service, adt("A01", "MRN-77777", "A-01", "ward-a"))
    service.store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"MRN-77777" not in raw and b"Test^Patient" not in raw and b"Patient" not in raw


def test_key_rotation_keeps_current_patients_refs_and_gives_new_ones_new_keys_refs(tmp_path: Path) -> None:
    service, _ = make(tmp_path)
    send(service, adt("A01", "MRN-1", "A-01", "ward-a"))
    service.store.close()
    new_key = bytes(range(32))
    rotated, _ = make(tmp_path, key=new_key, previous=(KEY,))
    old_id, new_id = Pseudonymizer(KEY).key_id, rotated.pseudonyms.key_id
    assert rotated.key_usage() == {old_id: 1}
    assert send(rotated, adt("A02", "MRN-1", "A-03", "ward-a")).code == "AA"  # found under the old key
    assert send(rotated, adt("A01", "MRN-2", "A-02", "ward-a")).code == "AA"
    assert beds(rotated) == {"A-03": ("ward-a", REF("MRN-1")),  # the ref of their stay, unchanged
                             "A-02": ("ward-a", Pseudonymizer(new_key).ref("MRN-2"))}
    assert rotated.key_usage() == {new_id: 2}  # re-keyed: the old key may now be dropped
