"""Logistics rules kept apart from the mission machines: the chain-of-custody ledger, ward stock
with reorder suggestions and the purchasing plan, the fixed-asset register, and the journey
helper (powered doors and lifts on the way to a place)."""
