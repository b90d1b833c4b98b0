"""The HIS link: HL7 v2 over MLLP between the hospital's information systems and the fleet.

In: ADT keeps the census (bed ↔ patient), published as pseudonymous refs on the MQTT contract
(``medbot/v1/<site>/his/census``); specimen collection orders become lab pick-up task requests to
the fleet (``fleet/tasks/request``). Out: the robots' results (``+/clinical``: vitals sets, lab
results) go to the record system as ORU^R01 from a durable outbox (his/results.py, his/oru.py,
his/outbox.py). The hospital's patient identifiers never leave this package but in those ORUs.
Layer rule: `his/` imports only `telemetry/` (the contract), never robots, missions or the simulator.
See docs/his.md.
"""
