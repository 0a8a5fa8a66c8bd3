"""Call recordings: stored twice (primary and backup), verified by SHA-256."""
