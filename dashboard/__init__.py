"""The operator dashboard: a web app fed by MQTT that knows robots only through the telemetry contract.

`dashboard.server.start_in_thread(broker_url, world_json)` serves it; `medbot dashboard --broker URL`
runs it from the command line. Imports `telemetry` only (no `robots`, `missions` or `sim`).
"""
