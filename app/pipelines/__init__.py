"""Headless workflows that build or transform a case (used by the CLI, the GUI's workers and tests)."""
