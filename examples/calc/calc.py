"""A tiny calculator module used by the orchestrator's demo run."""


def add(a, b):
    """Return the sum of a and b."""
    return a + b
