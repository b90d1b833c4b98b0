"""TagDecoder's zxing-cpp path: it reads wristbands, tube labels and 1D barcodes on its own (the OpenCV
chain is made to fail the test if reached), reads nothing from occluded codes, and OpenCV still
takes over when zxing-cpp finds nothing."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp

from hal.drivers import opencv_tags
from hal.drivers.opencv_tags import TagDecoder
from sim.camera_noise import camera_effects
from sim.lab_samples import render_tube_frame
from sim.wristband import render_wristband_frame

N_FRAMES = 24

Image = npt.NDArray[np.uint8]


def payload(i: int) -> str:
    return f"MEDBOT-PT:pt-{(i * 2654435761) & 0xFFFFFF:06x}"


def zxing_only(monkeypatch: pytest.MonkeyPatch, symbologies: tuple[str, ...] = ("qr",)) -> TagDecoder:
    """A decoder whose OpenCV fallbacks fail the test when called: what it returns is zxing-cpp's."""
    decoder = TagDecoder(symbologies)

    def no_fallback(*_: Any) -> list[Any]:
        pytest.fail("the OpenCV fallback ran: zxing-cpp found nothing")

    monkeypatch.setattr(decoder, "_decode_qr_opencv", no_fallback)
    monkeypatch.setattr(decoder, "_decode_barcode_opencv", no_fallback)
    return decoder


def barcode_frame(text: str, fmt: zxingcpp.BarcodeFormat, rng: np.random.Generator, *, vertical: bool,
                  cover_fraction: float = 0.0) -> Image:
    """A 640×480 camera view of a printed 1D barcode label on a grey rack, blurred and noisy; a
    vertical label runs along a tube. `cover_fraction` hides that share of the bars (a finger)."""
    bars = np.asarray(zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=2), dtype=np.uint8)
    label = np.pad(bars, 20, constant_values=245)
    if cover_fraction:
        start = int(label.shape[1] * (0.5 - cover_fraction / 2))
        label[:, start:start + int(label.shape[1] * cover_fraction)] = 120
    if vertical:
        label = np.ascontiguousarray(np.rot90(label))
    frame = np.full((480, 640), 80, dtype=np.uint8)
    h, w = label.shape
    y0 = int(rng.integers(10, 480 - h - 10))
    x0 = int(rng.integers(10, 640 - w - 10))
    frame[y0:y0 + h, x0:x0 + w] = label
    bgr = np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    return camera_effects(bgr, rng, blur_sigma_px=1.0, noise_sigma=4.0)


def test_zxing_reads_wristbands_without_the_opencv_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = zxing_only(monkeypatch)
    for i in range(N_FRAMES):
        frame = render_wristband_frame(payload(i), np.random.default_rng([2026, i]))
        assert decoder.decode(frame) == [(payload(i), "qr")], f"frame {i}"


def test_zxing_reads_tube_labels_without_the_opencv_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = zxing_only(monkeypatch)
    for i in range(N_FRAMES):
        frame = render_tube_frame(payload(i), np.random.default_rng([2028, i]))
        assert decoder.decode(frame) == [(payload(i), "qr")], f"frame {i}"


@pytest.mark.parametrize(
    ("text", "fmt", "symbology"),
    [("MEDBOT-S:000123", zxingcpp.BarcodeFormat.Code128, "code128"),
     ("4006381333931", zxingcpp.BarcodeFormat.EAN13, "ean13")],
)
@pytest.mark.parametrize("vertical", [False, True])
def test_zxing_reads_1d_barcodes(monkeypatch: pytest.MonkeyPatch, text: str, fmt: zxingcpp.BarcodeFormat,
                                 symbology: str, vertical: bool) -> None:
    decoder = zxing_only(monkeypatch, ("barcode",))
    both = TagDecoder(("qr", "barcode"))  # finds no QR code, so its OpenCV QR chain runs too
    for i in range(4):
        frame = barcode_frame(text, fmt, np.random.default_rng([2029, i]), vertical=vertical)
        assert decoder.decode(frame) == [(text, symbology)]
        assert both.decode(frame) == [(text, symbology)]


def test_qr_only_decoder_ignores_1d_barcodes() -> None:
    decoder = TagDecoder(("qr",))
    frame = barcode_frame("MEDBOT-S:000123", zxingcpp.BarcodeFormat.Code128, np.random.default_rng(1), vertical=False)
    assert decoder.decode(frame) == []


def test_occluded_codes_read_as_nothing() -> None:
    decoder = TagDecoder(("qr", "barcode"))
    for i in range(6):
        assert decoder.decode(render_wristband_frame(payload(i), np.random.default_rng([2030, i]), occluded=True)) == []
        assert decoder.decode(render_tube_frame(payload(i), np.random.default_rng([2031, i]), occluded=True)) == []
        assert decoder.decode(render_tube_frame(payload(i), np.random.default_rng([2032, i]), damaged=True)) == []
        covered = barcode_frame("MEDBOT-S:000123", zxingcpp.BarcodeFormat.Code128, np.random.default_rng([2033, i]),
                                vertical=bool(i % 2), cover_fraction=0.4)
        assert decoder.decode(covered) == []


def test_opencv_takes_over_when_zxing_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def read_nothing(*_: Any, **__: Any) -> list[Any]:
        calls.append(1)
        return []

    monkeypatch.setattr(opencv_tags.zxingcpp, "read_barcodes", read_nothing)
    decoder = TagDecoder(("qr",))
    decoded = 0
    for i in range(8):
        found = decoder.decode(render_wristband_frame(payload(i), np.random.default_rng([2026, i])))
        assert found in ([], [(payload(i), "qr")])  # never a wrong payload
        decoded += bool(found)
    assert calls and decoded >= 6


def test_symbology_names_agree_between_decoders() -> None:
    assert opencv_tags._linear_symbology("EAN_13") == "ean13"  # OpenCV's name
    assert opencv_tags._linear_symbology("EAN13") == "ean13"  # zxing-cpp's
    assert opencv_tags._linear_symbology("CODE_128") == "code128"
