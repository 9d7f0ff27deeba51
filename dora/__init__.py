"""Settings, wiring and the `dora` command: the one place that knows every package."""
