"""Workers beyond one machine: queued runs on a Postgres job queue, repos by git URL, takeover of dead workers."""
