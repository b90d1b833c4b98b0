"""One robot: the 50 Hz wall-clock control loop with telemetry on (jitter), e-stop → zero drive on
the same tick, the resident memory of a robot process (no ROS), and tag decoding at 640×480."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Mosquitto, Result, current_rss_mb, peak_rss_mb, percentile

ROBOT = "bench-nurse"
DOCK = "dock-ward-a"
# 08:00 on the simulator's day (sim.runner.SIM_DAY_START_S + 8 h), written out: importing sim.runner
# would load the scenario runner's broker, gateway and data-center code into the measured robot process
START_S = 1767571200.0 + 8 * 3600


def build_robot(journal_dir: Path, telemetry: Any, *, start_s: float | None = None) -> tuple[Any, Any]:
    """A nursing robot on the simulator's devices in the default hospital: (robot, env)."""
    from hal.clock import SimClock
    from robots.config import kind_config_path, load_robot_config
    from robots.plugins import load_device_registry
    from robots.robot import Robot, RobotIdentity, build_devices
    from sim.environment import SimEnvironment
    from sim.patients import PatientCensus
    from sim.scenario import WORLDS_DIR
    from sim.world import load_world

    world = load_world(WORLDS_DIR / "default_hospital.yaml")
    clock = SimClock(start_s if start_s is not None else START_S)
    census = PatientCensus(1, world.beds(), clock.now_s())
    env = SimEnvironment(world, census, clock, 1)
    config = load_robot_config(kind_config_path("nursing"))
    body = env.add_robot(ROBOT, DOCK)
    devices = build_devices(config, load_device_registry(), clock, ROBOT, {"sim_env": env, "sim_body": body})
    robot = Robot(RobotIdentity(ROBOT, "bench-site", DOCK), config, devices, clock, site_map=world,
                  telemetry=telemetry, journal_dir=journal_dir)
    robot.setup()
    return robot, env


def _round_params(env: Any) -> dict[str, Any]:
    beds = [p for p in env.world.beds("ward-a") if p.bed_id][:4]
    out = []
    for b in beds:
        patient = env.census.patient_at_bed(b.bed_id)
        out.append({"bed_id": b.bed_id, "place": b.name, "patient_ref": env.census.expected_ref(b.bed_id),
                    "on_oxygen": patient.on_oxygen, "spo2_scale": patient.spo2_scale,
                    "measure_glucose": patient.needs_glucose, "measure_weight": patient.needs_weight,
                    "escalation_in_force": "none"})
    return {"beds": out}


def control_loop(seconds: float = 10.0, rate_hz: float = 50.0) -> list[Result]:
    """Tick one robot (ward round running, telemetry to Mosquitto) at 50 Hz on the wall clock; the
    lateness of each tick's start is the jitter. Baseline: the same paced loop with an empty tick."""
    from telemetry.publisher import TelemetryPublisher

    period = 1.0 / rate_hz
    with Mosquitto() as broker, tempfile.TemporaryDirectory(prefix="medbot-bench-loop-") as tmp:
        pub = TelemetryPublisher(broker.url, "bench-site", ROBOT)
        pub.connect()
        robot, env = build_robot(Path(tmp), pub)
        robot.dispatch("nursing_round", _round_params(env), mission_id="bench-round")
        sim0 = robot.clock.now_s()

        def tick(i: int) -> None:
            now_s = sim0 + i * period
            robot.clock.set(now_s)
            robot.step(now_s)
            env.step(period)

        late, busy = _paced(period, seconds, tick)
        idle_late, _ = _paced(period, seconds, lambda i: None)
        robot.close()
        pub.close()
    p99 = percentile(late, 99) * 1000
    return [Result("control loop 50 Hz jitter p99", p99, "ms", percentile(idle_late, 99) * 1000,
                   "ms p99 empty loop", target="<= 2 ms", met=p99 <= 2.0,
                   detail={"ticks": len(late), "tick_p50_ms": percentile(busy, 50) * 1000,
                           "tick_p99_ms": percentile(busy, 99) * 1000, "late_max_ms": max(late) * 1000})]


def _paced(period: float, seconds: float, body: Any) -> tuple[list[float], list[float]]:
    late: list[float] = []
    busy: list[float] = []
    start = time.perf_counter()
    for i in range(int(seconds / period)):
        due = start + i * period
        # sleep most of the wait, spin the last half millisecond (a real control loop's timer)
        while (remaining := due - time.perf_counter()) > 0:
            if remaining > 0.0015:
                time.sleep(remaining - 0.001)
        t = time.perf_counter()
        late.append(t - due)
        body(i)
        busy.append(time.perf_counter() - t)
    return late, busy


def estop(trials: int = 1000, seed: int = 8) -> list[Result]:
    """Press the e-stop at seeded random ticks of a ward round: the drive must be zero on that tick."""
    from hal.geometry import Twist2D
    from telemetry.sinks import NullSink

    rng = np.random.default_rng(seed)
    zero_same_tick = 0
    moving_at_press = 0
    with tempfile.TemporaryDirectory(prefix="medbot-bench-estop-") as tmp:
        robot, env = build_robot(Path(tmp), NullSink())
        robot.dispatch("nursing_round", _round_params(env), mission_id="bench-round")
        dt = 0.1
        drive = robot.devices.drive_base
        for _ in range(trials):
            for _ in range(int(rng.integers(1, 60))):
                _tick(robot, env, dt)
            moving_at_press += not drive.commanded_velocity().is_zero
            env.press_estop(ROBOT)
            _tick(robot, env, dt)
            if robot.last_command_sent == Twist2D.zero() and drive.commanded_velocity().is_zero:
                zero_same_tick += 1
            env.release_estop(ROBOT)
            robot.reset_estop(by="bench")
        robot.close()
    return [Result("e-stop -> zero drive same tick", zero_same_tick, f"of {trials}", trials, "presses",
                   target="same tick, always", met=zero_same_tick == trials,
                   detail={"moving_when_pressed": moving_at_press})]


def _tick(robot: Any, env: Any, dt: float) -> None:
    now_s = robot.clock.now_s() + dt
    robot.clock.set(now_s)
    robot.step(now_s)
    env.step(dt)


def vision(frames: int = 60, seed: int = 3) -> list[Result]:
    """Wristband and tube-label frames at 640×480 (rendered as the simulator's cameras do): medbot's
    TagDecoder vs a bare cv2.QRCodeDetector on the same frames. Occluded frames (no code readable)
    are decoded too: anything read from them, like a wrong payload, is a guess and fails the target."""
    from sim.lab_samples import render_tube_frame
    from sim.wristband import render_wristband_frame

    rng = np.random.default_rng(seed)
    refs = [f"pt-{int(rng.integers(0, 2**24)):06x}" for _ in range(frames)]
    wristbands = [(render_wristband_frame(f"MEDBOT-PT:{ref}", rng), f"MEDBOT-PT:{ref}") for ref in refs]
    tubes = [(render_tube_frame(f"S-{ref}", rng), f"S-{ref}") for ref in refs]
    occluded = [render_wristband_frame(f"MEDBOT-PT:{ref}", rng, occluded=True) for ref in refs[: frames // 4]]
    occluded += [render_tube_frame(f"S-{ref}", rng, occluded=True) for ref in refs[: frames // 4]]
    return [_decode_rate("wristband decode 640x480", wristbands, occluded[: frames // 4]),
            _decode_rate("tube label decode 640x480", tubes, occluded[frames // 4:])]


def _decode_rate(name: str, labelled: list[tuple[Any, str]], occluded: list[Any]) -> Result:
    import cv2

    from hal.drivers.opencv_tags import TagDecoder

    decoder = TagDecoder(("qr",))
    raw = cv2.QRCodeDetector()
    started = time.perf_counter()
    ours = [[payload for payload, _ in decoder.decode(img)] for img, _ in labelled]
    ours_fps = len(labelled) / (time.perf_counter() - started)
    started = time.perf_counter()
    theirs = [raw.detectAndDecode(img)[0] for img, _ in labelled]
    raw_fps = len(labelled) / (time.perf_counter() - started)
    ours_ok = sum(found == [want] for found, (_, want) in zip(ours, labelled, strict=True))
    ours_wrong = sum(bool(found) and found != [want] for found, (_, want) in zip(ours, labelled, strict=True))
    raw_ok = sum(text == want for text, (_, want) in zip(theirs, labelled, strict=True))
    occluded_read = sum(1 for img in occluded if decoder.decode(img))
    n = len(labelled)
    return Result(name, ours_fps, "frames/s", raw_fps,
                  f"fps raw QRCodeDetector; read {ours_ok}/{n} vs raw {raw_ok}/{n}",
                  target=">= 50 fps and >= 0.8x raw",
                  met=ours_fps >= 50 and ours_fps / raw_fps >= 0.8 and ours_wrong == 0 and occluded_read == 0,
                  detail={"frames": n, "decoded": ours_ok, "raw_decoded": raw_ok, "wrong": ours_wrong,
                          "occluded_frames": len(occluded), "occluded_read": occluded_read})


def robot_memory() -> list[Result]:
    out = subprocess.run([sys.executable, "-m", "bench.robot_bench", "memory"], check=True, capture_output=True,
                         text=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    base = subprocess.run([sys.executable, "-c", "from bench.common import peak_rss_mb; print(peak_rss_mb())"],
                          check=True, capture_output=True, text=True)
    return [Result("robot process RSS (no ROS)", row["peak_rss_mb"], "MB", float(base.stdout.strip()),
                   "MB bare interpreter", target="<= 150 MB", met=row["peak_rss_mb"] <= 150, detail=row)]


def _memory_worker() -> dict[str, float]:
    """One robot process: the robot with its telemetry publisher's code loaded, a ward round ticked."""
    from telemetry.sinks import NullSink

    with tempfile.TemporaryDirectory(prefix="medbot-bench-mem-") as tmp:
        import telemetry.publisher  # noqa: F401  (a robot process has the MQTT client loaded)

        robot, env = build_robot(Path(tmp), NullSink())
        robot.dispatch("nursing_round", _round_params(env), mission_id="bench-round")
        for _ in range(3000):  # five simulated minutes at 10 Hz
            _tick(robot, env, 0.1)
        robot.close()
        return {"peak_rss_mb": peak_rss_mb(), "rss_mb": current_rss_mb()}


if __name__ == "__main__":
    if sys.argv[1:] == ["memory"]:
        print(json.dumps(_memory_worker()))
