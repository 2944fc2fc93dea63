"""Fixtures: see the module owner (filled in by its issue)."""
