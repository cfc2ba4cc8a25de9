"""Bundled routing-rule presets (JSON). See README, "Routing rules"."""
