"""Hardware abstraction layer: typed device interfaces, readings, the device registry, the clock
and the safety supervisor. Imports nothing else of the project."""
