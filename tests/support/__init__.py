"""Helpers shared by the test packages (plain modules: fixtures live in the conftest.py files, helpers here)."""
