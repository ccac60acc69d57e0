"""Redaction for agent tool output and command results: the model layer's secret scrubbing (models/secrets.py)."""

from orchestrator.models.secrets import SECRET_NAME, is_secret_name, redact, secret_values

__all__ = ["SECRET_NAME", "is_secret_name", "redact", "secret_values"]
