"""Fixtures: temporary config directories built from dicts or fixtures/ copies."""
