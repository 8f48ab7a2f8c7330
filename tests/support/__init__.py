"""Shared test worlds, factories and helpers (imported as ``tests.support.<name>``)."""
