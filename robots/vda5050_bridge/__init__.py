"""A medbot logistics robot as a VDA 5050 2.x vehicle (docs/vda5050.md): a VDA 5050 master control
sends it orders (a pick and a drop: a ``supply_delivery``) and reads its state, connection and
factsheet. The bridge talks to the robot only through the medbot MQTT contract — it is one more
client of the robot's command channel, like the fleet — so it runs beside any robot of the
contract (`medbot robot run`, the simulator's, hardware). Layer: `robots` → `telemetry` only.

`core.BridgeCore` translates (no I/O), `link.Vda5050Bridge` does the MQTT, `cli` is
``medbot vda5050-bridge``."""

from robots.vda5050_bridge.core import BridgeCore, OrderRejected, Place, places_from_map
from robots.vda5050_bridge.link import Vda5050Bridge

__all__ = ["BridgeCore", "OrderRejected", "Place", "Vda5050Bridge", "places_from_map"]
