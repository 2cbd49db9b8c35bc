"""One module per scenario; each has `run(args) -> list[Report]`."""
