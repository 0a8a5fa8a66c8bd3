"""Scheduled jobs. Every gateway process runs the scheduler; a run is claimed by
inserting its (job, scheduled time) row, and held under a PostgreSQL advisory lock keyed
by the job's name, so exactly one process does each run and runs never overlap."""
