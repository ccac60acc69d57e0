"""Where runs are kept: the run log (SQLite or a shared Postgres), its schema, spend caps and the live event feed."""
