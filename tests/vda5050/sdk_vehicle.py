"""A VDA 5050 vehicle we did not write: vda5050-sdk's `VehicleClient` (MQTT, connection with its
Last Will, state publishing, order acceptance, cancelOrder and the pause actions) driving its
reference `OrderExecutor` (node by node through the released base, node actions reported
RUNNING → FINISHED), run as its own process so that a SIGKILL makes the broker publish its Last Will.

The glue here is only what the SDK leaves to a vehicle's integrator: a worker that runs the orders
and updates in the order they were accepted, a factsheet (the official schema requires more than
the SDK's model does), and stopping the executor when a cancelOrder arrives. It prints one JSON line
per order, update and instant action it accepted, so that a test can see what reached the vehicle.

    python tests/vda5050/sdk_vehicle.py --broker mqtt://127.0.0.1:1883 --manufacturer acme \
        --serial agv-1 --x 1 --y 2 --map-id level-0 --node-delay 0.05 [--actions pick,drop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from vda5050 import VehicleClient, VehicleConfig
from vda5050.client.agv.executor import OrderExecutor
from vda5050.model.factsheet import Factsheet
from vda5050.model.instant_actions import InstantActions
from vda5050.model.order import Order


def factsheet_dict(manufacturer: str, serial: str, actions: list[str]) -> dict[str, Any]:
    """A factsheet the official 2.1.0 schema accepts."""
    # no blockingTypes: the official 2.1.0 schema types it as an array with a string enum on the array
    # itself, which no value satisfies
    node_actions = [{"actionType": a, "actionScopes": ["NODE"]} for a in actions]
    instant = [{"actionType": a, "actionScopes": ["INSTANT"]}
               for a in ("cancelOrder", "startPause", "stopPause", "stateRequest", "factsheetRequest")]
    return {
        "headerId": 0, "timestamp": "2026-01-05T08:00:00.000Z", "version": "2.1.0",
        "manufacturer": manufacturer, "serialNumber": serial,
        "typeSpecification": {"seriesName": "sdk-carrier", "agvKinematic": "DIFF", "agvClass": "CARRIER",
                              "maxLoadMass": 50.0, "localizationTypes": ["NATURAL"],
                              "navigationTypes": ["AUTONOMOUS"]},
        "physicalParameters": {"speedMin": 0.05, "speedMax": 1.2, "accelerationMax": 0.5, "decelerationMax": 0.5,
                               "heightMax": 1.2, "width": 0.6, "length": 0.9},
        "protocolLimits": {"maxStringLens": {}, "maxArrayLens": {},
                           "timing": {"minOrderInterval": 0.0, "minStateInterval": 0.1}},
        "protocolFeatures": {"optionalParameters": [], "agvActions": node_actions + instant},
        "agvGeometry": {}, "loadSpecification": {},
    }


def say(kind: str, **data: Any) -> None:
    print(json.dumps({"vehicle": kind, **data}), flush=True)


async def run(args: argparse.Namespace) -> None:
    cfg = VehicleConfig(manufacturer=args.manufacturer, serial_number=args.serial, broker_url=args.broker,
                        state_interval=args.state_interval, client_id=f"sdk-vehicle-{args.serial}")
    sheet = factsheet_dict(args.manufacturer, args.serial, [a for a in args.actions.split(",") if a])
    vc = VehicleClient(cfg, factsheet_provider=lambda: Factsheet.model_validate(sheet))
    queue: asyncio.Queue[Order] = asyncio.Queue()
    running: dict[str, asyncio.Task[Any]] = {}
    executor: dict[str, OrderExecutor] = {}

    @vc.on_order
    def accepted(order: Order) -> None:
        say("order", orderId=order.order_id, orderUpdateId=order.order_update_id,
            released=[n.node_id for n in order.nodes if n.released])
        queue.put_nowait(order)

    @vc.on_instant_actions
    def instant(message: InstantActions) -> None:
        for action in message.actions:
            say("instantAction", actionType=action.action_type, actionId=action.action_id)
            if action.action_type == "cancelOrder":
                # the SDK reported the cancel and cleared the route; the executor is ours to stop
                task = running.pop("worker", None)
                if task is not None:
                    task.cancel()
                while not queue.empty():
                    queue.get_nowait()
                executor.clear()
                running["worker"] = asyncio.create_task(worker())

    async def worker() -> None:
        while True:
            order = await queue.get()
            ex = executor.get(order.order_id)
            if ex is None:
                executor.clear()
                ex = executor[order.order_id] = OrderExecutor(vc.publisher, node_delay=args.node_delay,
                                                              action_delay=args.node_delay)
            result = await ex.run(order)
            say("ran", orderId=order.order_id, orderUpdateId=order.order_update_id, result=result.value)

    await vc.connect()
    vc.update_position(x=args.x, y=args.y, theta=0.0, map_id=args.map_id)
    vc.publisher.battery = vc.publisher.battery.model_copy(update={"battery_charge": args.battery})
    await vc.publish_state()
    await vc._publish_factsheet()  # the SDK sends it only on factsheetRequest; a vehicle may also send it at start
    running["worker"] = asyncio.create_task(worker())
    say("ready")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await vc.disconnect()  # OFFLINE, retained


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--manufacturer", required=True)
    p.add_argument("--serial", required=True)
    p.add_argument("--x", type=float, required=True)
    p.add_argument("--y", type=float, required=True)
    p.add_argument("--map-id", default="level-0")
    p.add_argument("--node-delay", type=float, default=0.05)
    p.add_argument("--state-interval", type=float, default=2.0)
    p.add_argument("--battery", type=float, default=90.0)
    p.add_argument("--actions", default="pick,drop")
    asyncio.run(run(p.parse_args()))
    sys.exit(0)


if __name__ == "__main__":

    main()
