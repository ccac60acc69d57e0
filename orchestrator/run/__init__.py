"""One run in progress: its context, router, budgets, monitors, git workspace, records and run log."""
