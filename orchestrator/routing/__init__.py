"""Routing: one interface, pluggable strategies built from YAML, each returning an ordered candidate list."""
