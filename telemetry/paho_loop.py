"""Stopping paho-mqtt's network thread without its race.

`Client.loop_stop()` checks `self._thread`, then joins it; the network thread clears that handle
as it ends (`_thread_main`'s `finally`). When the thread ends by itself in between — a connection
refused or timed out a moment earlier — `loop_stop` raises AttributeError ('NoneType' object has
no attribute 'join'): eclipse-paho/paho.mqtt.python#872, open in paho-mqtt 2.2. A failed connect
then surfaced as that AttributeError instead of its ConnectionRefusedError / TimeoutError.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt


def stop_loop(client: mqtt.Client) -> None:
    """`client.loop_stop()`; a network thread that ended by itself meanwhile is already stopped."""
    try:
        client.loop_stop()
    except AttributeError:
        if client._thread is not None:  # not the race: something else is wrong
            raise
