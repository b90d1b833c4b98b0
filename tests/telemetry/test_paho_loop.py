"""stop_loop: paho-mqtt's loop_stop race (the network thread ending by itself between loop_stop's
check and its join) does not escape as an AttributeError."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from telemetry.paho_loop import stop_loop


class _EndsAsItIsStopped(mqtt.Client):
    """The race made certain: as loop_stop raises the terminate flag, the network thread ends
    and clears its handle, as `_thread_main`'s `finally` does."""

    @property
    def _thread_terminate(self) -> bool:
        return bool(self.__dict__.get("_terminate", False))

    @_thread_terminate.setter
    def _thread_terminate(self, value: bool) -> None:
        self.__dict__["_terminate"] = value
        thread: Any = self.__dict__.get("_thread")
        if value and thread is not None and thread is not threading.current_thread():
            thread.join(5.0)  # it sees the flag and ends ...
            self._thread = None  # ... and clears its handle


def _started() -> mqtt.Client:
    client = _EndsAsItIsStopped(mqtt.CallbackAPIVersion.VERSION2, client_id="race")
    client.loop_start()
    return client


def test_paho_loop_stop_raises_when_the_thread_ends_in_between() -> None:
    with pytest.raises(AttributeError, match="join"):
        _started().loop_stop()


def test_stop_loop_takes_a_thread_that_ended_by_itself_as_stopped() -> None:
    client = _started()
    stop_loop(client)
    assert client._thread is None


def test_stop_loop_stops_a_running_network_thread() -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain")
    client.loop_start()
    thread = client._thread
    assert thread is not None and thread.is_alive()
    stop_loop(client)
    assert not thread.is_alive()
