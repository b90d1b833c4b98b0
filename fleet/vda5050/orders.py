"""Fleet tasks as VDA 5050 orders: which task kinds a vehicle can take, and the order for one.

A task becomes a route on the site's route graph (`fleet.site.SiteMap`, shortest paths by length):
from the node the vehicle stands on to the task's first place, then on to the next — every route
node a VDA 5050 node (nodeId = the route node's name, its position on the level's map), every
route edge an edge between them. sequenceIds count 0, 1, 2, ... along the route, nodes even and
edges odd (§6.6.1). The work happens as node actions: ``pick`` where a load is taken up, ``drop``
where it is set down, ``startCharging`` at a dock.

Only the first `base_nodes` nodes after the start are released (the base); the rest is the
horizon the vehicle may plan with but not drive. As the vehicle nears the end of its base the
adapter releases the next stretch with an **order update**: same orderId, orderUpdateId + 1, the
first node the last released one (same nodeId and sequenceId: the stitching node), then the rest
of the route (§6.6.2). The orderId is the fleet's mission id, so a dispatch sent again after a
restart is the same order.

Task kinds (`KIND_NEEDS`, tabled in docs/vda5050.md): ``transport`` {origin, destination} for
every vehicle (pick and drop there when it offers them), ``supply_delivery`` for a vehicle that
offers ``pick`` and ``drop``, ``return_to_dock`` {dock} (``startCharging`` there when offered; done
once charged to ``resume_soc_fraction``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from fleet.site import SiteMap

#: mission kind -> the node actions the vehicle must offer to be given it
KIND_NEEDS: dict[str, frozenset[str]] = {
    "transport": frozenset(),
    "supply_delivery": frozenset({"pick", "drop"}),
    "return_to_dock": frozenset(),
}

#: the params schema the adapter puts in the vehicle's medbot factsheet for each kind (the fleet
#: checks a task against it before sending it: a task without an origin never becomes an order)
_PLACES = {"origin": {"type": "string", "minLength": 1}, "destination": {"type": "string", "minLength": 1}}
KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "transport": {"type": "object", "required": ["origin", "destination"],
                  "properties": {**_PLACES, "load_id": {"type": "string"}}},
    "supply_delivery": {"type": "object", "required": ["origin", "destination"], "properties": dict(_PLACES)},
    "return_to_dock": {"type": "object", "required": ["dock"],
                       "properties": {"dock": {"type": "string", "minLength": 1},
                                      "resume_soc_fraction": {"type": "number", "minimum": 0, "maximum": 1}}},
}


class OrderRefused(ValueError):
    """A task this vehicle cannot be sent (an unknown place, no route on one floor, a kind it lacks)."""


def node_actions(factsheet: dict[str, Any]) -> frozenset[str]:
    """The action types a VDA 5050 factsheet offers in NODE scope."""
    features = factsheet.get("protocolFeatures") or {}
    return frozenset(str(a.get("actionType")) for a in features.get("agvActions") or []
                     if "NODE" in (a.get("actionScopes") or []))


def offered_kinds(factsheet: dict[str, Any]) -> list[str]:
    actions = node_actions(factsheet)
    return sorted(kind for kind, needs in KIND_NEEDS.items() if needs <= actions)


@dataclass(frozen=True, slots=True)
class Stop:
    """A place the route must pass, with the actions done there."""

    place: str
    actions: tuple[str, ...] = ()


def stops_for(kind: str, params: dict[str, Any], actions: frozenset[str]) -> list[Stop]:
    if kind not in KIND_NEEDS:
        raise OrderRefused(f"mission kind {kind!r} is not one a VDA 5050 vehicle runs (known: {sorted(KIND_NEEDS)})")
    missing = KIND_NEEDS[kind] - actions
    if missing:
        raise OrderRefused(f"{kind} needs the actions {sorted(missing)}, which the vehicle's factsheet does not offer")
    if kind == "return_to_dock":
        return [Stop(str(params["dock"]), ("startCharging",) if "startCharging" in actions else ())]
    pick = ("pick",) if "pick" in actions else ()
    drop = ("drop",) if "drop" in actions else ()
    return [Stop(str(params["origin"]), pick), Stop(str(params["destination"]), drop)]


@dataclass(frozen=True, slots=True)
class RouteNode:
    node_id: str
    sequence_id: int
    x_m: float
    y_m: float
    map_id: str
    actions: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class RouteEdge:
    edge_id: str
    sequence_id: int
    start: str
    end: str
    length_m: float


@dataclass
class OrderPlan:
    """One order and its updates. `released_to` is the index of the last released node."""

    order_id: str
    nodes: list[RouteNode]
    edges: list[RouteEdge]
    released_to: int
    base_nodes: int
    update_id: int = 0
    #: actionId -> (actionType, node index): how the state's actionStates read back
    actions: dict[str, tuple[str, int]] = field(default_factory=dict)
    allowed_deviation_m: float = 0.5
    #: index of the stitching node of the current update
    _stitch: int = 0

    @property
    def complete(self) -> bool:
        """Every node released (no horizon left)."""
        return self.released_to >= len(self.nodes) - 1

    @property
    def last_sequence_id(self) -> int:
        return self.nodes[-1].sequence_id

    @property
    def base_end_sequence_id(self) -> int:
        return self.nodes[self.released_to].sequence_id

    def message(self, header: dict[str, Any]) -> dict[str, Any]:
        """The order (update_id 0) or its current update: nodes from the stitching node on."""
        first = 0 if self.update_id == 0 else self._stitch
        nodes = [self._node(i) for i in range(first, len(self.nodes))]
        edges = [self._edge(i) for i in range(first, len(self.edges))]
        return {**header, "orderId": self.order_id, "orderUpdateId": self.update_id, "nodes": nodes, "edges": edges}

    def extend(self) -> bool:
        """Release the next `base_nodes` nodes as a new update; False if nothing is left."""
        if self.complete:
            return False
        self._stitch = self.released_to
        self.released_to = min(len(self.nodes) - 1, self.released_to + self.base_nodes)
        self.update_id += 1
        return True

    def _node(self, i: int) -> dict[str, Any]:
        n = self.nodes[i]
        return {"nodeId": n.node_id, "sequenceId": n.sequence_id, "released": i <= self.released_to,
                "nodePosition": {"x": n.x_m, "y": n.y_m, "mapId": n.map_id,
                                 "allowedDeviationXY": self.allowed_deviation_m},
                "actions": [dict(a) for a in n.actions]}

    def _edge(self, i: int) -> dict[str, Any]:
        e = self.edges[i]
        return {"edgeId": e.edge_id, "sequenceId": e.sequence_id, "released": i + 1 <= self.released_to,
                "startNodeId": e.start, "endNodeId": e.end, "length": e.length_m, "actions": []}

    def node_index(self, sequence_id: int) -> int | None:
        for i, n in enumerate(self.nodes):
            if n.sequence_id == sequence_id:
                return i
        return None


def map_id_for(level: int, map_ids: dict[int, str]) -> str:
    return map_ids.get(level, f"level-{level}")


def plan_order(site: SiteMap, order_id: str, start: str, stops: Iterable[Stop], *, base_nodes: int,
               map_ids: dict[int, str], load_id: str | None = None) -> OrderPlan:
    """The route from `start` through every stop, as an order whose first `base_nodes` nodes after
    the start are released. Raises OrderRefused naming the place or leg that has no route."""
    stops = list(stops)
    path = [start]
    at_stop: dict[int, Stop] = {}
    for stop in stops:
        if stop.place not in site.graph:
            raise OrderRefused(f"place {stop.place!r} is not a node of site map {site.name!r}'s route graph")
        try:
            leg = nx.shortest_path(site.graph, path[-1], stop.place, weight="length_m")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            raise OrderRefused(f"no route on one floor from {path[-1]!r} to {stop.place!r} "
                               "(a VDA 5050 vehicle here does not ride lifts)") from None
        path.extend(leg[1:])
        at_stop[len(path) - 1] = stop
    nodes: list[RouteNode] = []
    actions: dict[str, tuple[str, int]] = {}
    for i, name in enumerate(path):
        data = site.graph.nodes[name]
        node_actions_: list[dict[str, Any]] = []
        here = at_stop.get(i)
        for action_type in here.actions if here is not None else ():
            action_id = f"{order_id}-{action_type}-{i}"
            params = [{"key": "loadId", "value": load_id}] if load_id and action_type in ("pick", "drop") else []
            node_actions_.append({"actionId": action_id, "actionType": action_type, "blockingType": "HARD",
                                  "actionParameters": params})
            actions[action_id] = (action_type, i)
        nodes.append(RouteNode(name, 2 * i, float(data["x_m"]), float(data["y_m"]),
                               map_id_for(int(data["level"]), map_ids), tuple(node_actions_)))
    edges = [RouteEdge(f"{a}--{b}", 2 * i + 1, a, b, float(site.graph.edges[a, b]["length_m"]))
             for i, (a, b) in enumerate(itertools.pairwise(path))]
    return OrderPlan(order_id, nodes, edges, released_to=min(len(nodes) - 1, base_nodes), base_nodes=base_nodes,
                     actions=actions)
