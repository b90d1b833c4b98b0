"""Vitals drivers over real ptys: the bedside-module line protocol (thermometer, NIBP,
glucometer, scale) and Nonin Data Format #2, fed by a simulated patient's true vitals."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.clock import SimClock
from hal.device import HealthStatus
from hal.drivers.vitals import VitalsProtocolError, bedside, nonin
from hal.drivers.vitals.drivers import (
    NoninConfig,
    NoninPulseOximeter,
    SerialBloodPressure,
    SerialGlucometer,
    SerialScale,
    SerialThermometer,
    SerialVitalsConfig,
)
from hal.handle import Handle, HandleStatus
from sim.emulators.bedside import BedsideEmulator
from sim.emulators.nonin import NoninEmulator
from sim.patients import TrueVitals

TRUE = TrueVitals(18.0, 95.0, 88.0, 132.0, 81.0, 37.6, 6.2, "alert")
KINDS: dict[str, Any] = {
    "TEMP": SerialThermometer, "NIBP": SerialBloodPressure, "GLU": SerialGlucometer, "SCALE": SerialScale,
}


def run(handle: Handle[Any, str], clock: SimClock, max_s: float = 120.0, dt_s: float = 0.5) -> HandleStatus:
    end = clock.now_s() + max_s
    while not handle.poll().done and clock.now_s() < end:
        clock.advance(dt_s)
    return handle.poll()


class Patient:
    def __init__(self) -> None:
        self.present = True

    def __call__(self, t_s: float) -> TrueVitals | None:
        return TRUE if self.present else None


@pytest.fixture
def bedside_rig(request: pytest.FixtureRequest) -> Iterator[tuple[Any, BedsideEmulator, SimClock, Patient]]:
    code = request.param
    clock, patient = SimClock(), Patient()
    emulator = BedsideEmulator(clock, code, np.random.default_rng(5), patient)
    device = KINDS[code](code.lower(), clock, SerialVitalsConfig(port=emulator.port_url), pump=emulator.service)
    device.setup()
    yield device, emulator, clock, patient
    device.close()
    emulator.close()


@pytest.mark.parametrize("bedside_rig", list(KINDS), indirect=True)
def test_each_bedside_device_measures_the_patient(bedside_rig: tuple[Any, BedsideEmulator, SimClock, Patient]) -> None:
    device, emulator, clock, _ = bedside_rig
    handle = device.start_measurement()
    assert run(handle, clock) is HandleStatus.SUCCEEDED
    reading = handle.result
    if emulator.device == "TEMP":
        assert reading.temperature_c == pytest.approx(TRUE.temperature_c, abs=0.5)
    elif emulator.device == "NIBP":
        assert reading.systolic_mmhg == pytest.approx(TRUE.systolic_bp_mmhg, abs=10)
        assert reading.diastolic_mmhg < reading.systolic_mmhg
    elif emulator.device == "GLU":
        assert reading.glucose_mmol_per_l == pytest.approx(TRUE.glucose_mmol_per_l, abs=1.0)
    else:
        assert reading.weight_kg == pytest.approx(72.0, abs=1.0)
    assert clock.now_s() - handle.result.stamp_s < 1.0 and device.health().status is HealthStatus.OK


@pytest.mark.parametrize("bedside_rig", ["NIBP"], indirect=True)
def test_device_error_no_patient_and_silence_fail_with_reasons(
    bedside_rig: tuple[Any, BedsideEmulator, SimClock, Patient],
) -> None:
    device, emulator, clock, patient = bedside_rig
    emulator.error_next = "CUFF_LEAK"
    h = device.start_measurement()
    assert run(h, clock) is HandleStatus.FAILED and "CUFF_LEAK" in (h.error or "")
    patient.present = False
    h = device.start_measurement()
    assert run(h, clock) is HandleStatus.FAILED and "NO_PATIENT" in (h.error or "")
    emulator.silent = True
    h = device.start_measurement()
    assert run(h, clock) is HandleStatus.FAILED and "no answer" in (h.error or "")


@pytest.mark.parametrize("bedside_rig", ["TEMP"], indirect=True)
def test_corrupt_lines_are_rejected_and_reported(bedside_rig: tuple[Any, BedsideEmulator, SimClock, Patient]) -> None:
    device, emulator, clock, _ = bedside_rig
    emulator.corrupt_probability = 1.0
    emulator.garbage_probability = 1.0
    h = device.start_measurement()
    assert run(h, clock, max_s=10) is HandleStatus.FAILED
    assert device.rejected > 0 and device.health().status is HealthStatus.WARNING


@pytest.mark.parametrize("bedside_rig", ["GLU"], indirect=True)
def test_a_stale_result_from_an_earlier_request_is_not_taken(
    bedside_rig: tuple[Any, BedsideEmulator, SimClock, Patient],
) -> None:
    device, emulator, clock, _ = bedside_rig
    first = device.start_measurement()
    first.poll()
    first.cancel()
    second = device.start_measurement()
    # a late answer to the cancelled request arrives while the second one runs
    emulator.pty.write(bedside.encode_line(bedside.BedsideLine(1, "GLU", "RES", ("glu_mmol=19.9",))))
    assert run(second, clock) is HandleStatus.SUCCEEDED
    assert second.result is not None and second.result.glucose_mmol_per_l < 15.0
    assert "stale" in (device.last_rejection or "")


@pytest.mark.parametrize("bedside_rig", ["SCALE"], indirect=True)
def test_port_gone_fails_the_measurement_without_raising(
    bedside_rig: tuple[Any, BedsideEmulator, SimClock, Patient],
) -> None:
    device, emulator, clock, _ = bedside_rig
    emulator.pty.unplug()
    h = device.start_measurement()
    assert run(h, clock) is HandleStatus.FAILED
    assert device.health().status in (HealthStatus.ERROR, HealthStatus.WARNING)
    emulator.pty.replug()
    clock.advance(5.0)
    assert run(device.start_measurement(), clock) is HandleStatus.SUCCEEDED


@pytest.fixture
def oximeter() -> Iterator[tuple[NoninPulseOximeter, NoninEmulator, SimClock, Patient]]:
    clock, patient = SimClock(), Patient()
    emulator = NoninEmulator(clock, np.random.default_rng(9), patient)
    device = NoninPulseOximeter("oximeter", clock, NoninConfig(port=emulator.port_url), pump=emulator.service)
    device.setup()
    yield device, emulator, clock, patient
    device.close()
    emulator.close()


def test_nonin_reading_from_the_patient(oximeter: tuple[NoninPulseOximeter, NoninEmulator, SimClock, Patient]) -> None:
    device, emulator, clock, _ = oximeter
    emulator.noise_probability = 0.2
    h = device.start_measurement()
    assert run(h, clock, dt_s=0.2) is HandleStatus.SUCCEEDED
    assert h.result is not None
    assert h.result.spo2_percent == pytest.approx(TRUE.spo2_percent, abs=1)
    assert h.result.pulse_bpm == pytest.approx(TRUE.pulse_bpm, abs=2)
    assert h.result.perfusion_index_percent > 0


def test_nonin_probe_off_and_silence(oximeter: tuple[NoninPulseOximeter, NoninEmulator, SimClock, Patient]) -> None:
    device, emulator, clock, patient = oximeter
    patient.present = False
    h = device.start_measurement()
    assert run(h, clock, dt_s=0.2) is HandleStatus.FAILED and h.error == "probe off"
    emulator.silent = True
    h = device.start_measurement()
    assert run(h, clock, dt_s=0.2) is HandleStatus.FAILED and "no data" in (h.error or "")


# -- properties ----------------------------------------------------------------------------------

field_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="$*,"),
                     max_size=10)


@settings(max_examples=150, deadline=None)
@given(seq=st.integers(0, 0xFFFF), device=st.sampled_from(bedside.DEVICES), kind=st.sampled_from(bedside.TYPES),
       fields=st.lists(field_text, max_size=5))
def test_bedside_line_round_trip(seq: int, device: str, kind: str, fields: list[str]) -> None:
    line = bedside.BedsideLine(seq, device, kind, tuple(fields))
    raw = bedside.encode_line(line)
    assert bedside.decode_line(raw) == line
    assert bedside.LineSplitter().feed(b"xx" + raw + raw[:5]) == [raw]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_vitals_errors(data: bytes) -> None:
    for raw in [*bedside.LineSplitter().feed(data), data]:
        with contextlib.suppress(VitalsProtocolError):
            bedside.decode_line(raw)
    nonin.NoninDecoder().feed(data)


@settings(max_examples=100, deadline=None)
@given(hr=st.one_of(st.none(), st.integers(0, 300)), spo2=st.one_of(st.none(), st.integers(0, 100)),
       junk=st.binary(max_size=12))
def test_nonin_packet_round_trip_through_junk(hr: int | None, spo2: int | None, junk: bytes) -> None:
    packets = nonin.NoninDecoder().feed(junk + nonin.encode_packet(hr, spo2))
    assert [(p.heart_rate_bpm, p.spo2_percent) for p in packets][-1:] == [(hr, spo2)]


def test_the_documented_example_line_is_a_valid_test_vector() -> None:
    raw = b"$MBV,7,TEMP,RES,temp_c=37.6,site=tympanic*A098\r\n"
    assert bedside.decode_line(raw).field_map() == {"temp_c": "37.6", "site": "tympanic"}
