"""Tube labels rendered as camera frames and decoded by the real OpenCV reader."""

from __future__ import annotations

import numpy as np

from hal.drivers.opencv_tags import TagDecoder
from missions.lab.orders import specimen_label
from missions.lab.reference import Specimen
from sim.lab_samples import render_tube_frame

FRAMES = 30


def test_label_decode_rate_over_seeded_frames_is_at_least_90_percent() -> None:
    decoder = TagDecoder(("qr",))
    rng = np.random.default_rng(20260105)
    decoded = wrong = 0
    for i in range(FRAMES):
        payload = specimen_label(f"smp-{i + 1:06d}")
        specimen = Specimen.SERUM if i % 3 else Specimen.WHOLE_BLOOD
        blur = float(rng.uniform(0.8, 1.6))  # focus varies with where the gripper holds the tube
        frame = render_tube_frame(payload, rng, specimen=specimen, width_px=480, height_px=360,
                                  blur_sigma_px=blur, noise_sigma=6.0)
        found = [p for p, _ in decoder.decode(frame)]
        decoded += found == [payload]
        wrong += bool(found) and found != [payload]
    assert wrong == 0  # never a wrong payload
    assert decoded / FRAMES >= 0.9, f"decode rate {decoded}/{FRAMES}"


def test_occluded_and_smudged_labels_decode_to_nothing_never_to_a_guess() -> None:
    decoder = TagDecoder(("qr",))
    rng = np.random.default_rng(7)
    for i in range(6):
        payload = specimen_label(f"smp-{i + 1:06d}")
        assert decoder.decode(render_tube_frame(payload, rng, occluded=True, width_px=480, height_px=360)) == []
        assert decoder.decode(render_tube_frame(payload, rng, damaged=True, width_px=480, height_px=360)) == []
