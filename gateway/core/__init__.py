"""The plumbing every layer stands on: errors, settings, metrics, logs, background
tasks, ids and shared type aliases. Imports nothing else of the gateway."""
