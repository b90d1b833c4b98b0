"""VDA 5050 vehicles in the fleet (docs/vda5050.md): the master-control side of the standard.

`orders` turns a task into an order on the site's route graph (base and horizon, updates);
`vehicle` translates one vehicle's messages into the medbot contract the service reads and the
service's commands into orders and instant actions; `adapter` does the MQTT and sits between the
service and its outbox (`MixedFleetLink`: ``medbot fleet run --vda5050 FILE``). Imports only
`fleet` and `telemetry` (the layer rule)."""

from fleet.vda5050.adapter import MixedFleetLink, Vda5050Adapter, Vda5050Settings, VehicleEntry
from fleet.vda5050.orders import KIND_NEEDS, OrderPlan, OrderRefused, offered_kinds, plan_order
from fleet.vda5050.vehicle import VehicleSettings, VehicleTracker, robot_id_for

__all__ = [
    "KIND_NEEDS",
    "MixedFleetLink",
    "OrderPlan",
    "OrderRefused",
    "Vda5050Adapter",
    "Vda5050Settings",
    "VehicleEntry",
    "VehicleSettings",
    "VehicleTracker",
    "offered_kinds",
    "plan_order",
    "robot_id_for",
]
