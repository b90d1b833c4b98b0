"""The HIS link: HL7 v2 over MLLP between the hospital's information systems and the fleet.

In: ADT keeps the census (bed ↔ patient), published as pseudonymous refs on the MQTT contract
(``medbot/v1/<site>/his/census``); specimen collection orders become lab pick-up task requests to
the fleet (``fleet/tasks/request``). The hospital's patient identifiers never leave this package.
Layer rule: `his/` imports only `telemetry/` (the contract), never robots, missions or the simulator.
See docs/his.md.
"""
