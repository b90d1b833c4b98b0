"""The fleet service: the hospital's decisions — who does what, when.

Tasks come from people (HTTP API, MQTT request topic) and from demand sources (the hospital's
standing work: the ward observation chart, rounds, pick-ups, the worklist, patrol plans); the
allocator gives each to a capable, available robot; failures re-allocate; charging and the
building alarm are planned here. The service knows robots only through the MQTT contract in
`telemetry/` (factsheet, state, events, connection, commands/ack): it imports nothing of
`robots/`, `missions/` or `sim/` (tests/fleet/test_import_graph.py checks it).
"""
