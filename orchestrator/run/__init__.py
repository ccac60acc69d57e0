"""One run in progress: its context, workspace, router, budgets, monitors, lock, repairs and outcome."""
