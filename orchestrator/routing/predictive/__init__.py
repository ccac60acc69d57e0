"""predictive."""
