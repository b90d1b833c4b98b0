"""Simulated RFID asset reader: answers with the tags of the assets near the robot.

An asset sits at a place (the logistics world says which, or nowhere when it is gone); its tag
is read when that place is within `range_m` of the robot, with a log-distance RSSI and a
little seeded noise.
"""

from __future__ import annotations

import math

from hal.asset_reader import AssetReader, InventoryHandle, InventoryRound, TagSighting
from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.logistics_world import logistics_world


class SimAssetReaderConfig(DeviceConfig):
    range_m: float = 4.0
    rssi_at_1m_dbm: float = -45.0
    path_loss_exponent: float = 2.2
    noise_db: float = 2.0


class SimAssetReader(AssetReader):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimAssetReaderConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config

    def start_inventory(self, *, duration_s: float = 5.0) -> InventoryHandle:
        self._require_open()
        self.sim.raise_on_fault()
        cfg = self.config
        pose = self.sim.body.pose
        places = self.sim.env.world.places
        rng = self.sim.rng()
        sightings: list[TagSighting] = []
        for asset in sorted(logistics_world(self.sim.env).assets, key=lambda a: a.tag_id):
            if asset.actual_room is None or asset.actual_room not in places:
                continue
            place = places[asset.actual_room]
            distance_m = math.hypot(place.x_m - pose.x_m, place.y_m - pose.y_m)
            if place.level != pose.level or distance_m > cfg.range_m:
                continue
            rssi = cfg.rssi_at_1m_dbm - 10 * cfg.path_loss_exponent * math.log10(max(distance_m, 0.3))
            rssi += float(rng.normal(0.0, cfg.noise_db))
            sightings.append(TagSighting(asset.tag_id, round(rssi, 1), max(1, int(duration_s * 4))))
        now_s = self.clock.now_s()
        handle: ResolvedHandle[InventoryRound, str] = ResolvedHandle(self.clock.now_s)
        handle.succeed_at(now_s + duration_s, InventoryRound(tuple(sightings), duration_s, now_s + duration_s))
        return handle

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimAssetReaderConfig, ctx: BuildContext) -> SimAssetReader:
    env, body = sim_context(ctx)
    return SimAssetReader(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("asset_reader", "sim", SimAssetReaderConfig, build)
