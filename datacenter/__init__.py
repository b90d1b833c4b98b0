"""The health data center: MQTT ingest (shared subscription), storage (SQLite or PostgreSQL),
FHIR R4 export of clinical records and fleet KPIs. Knows robots only through the telemetry contract."""
