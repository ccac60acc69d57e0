"""Workflows: YAML specs, loading and validation, autonomy levels, run state and the LangGraph compile."""
