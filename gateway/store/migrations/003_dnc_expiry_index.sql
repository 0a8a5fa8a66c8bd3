-- Temporary do-not-call entries, found quickly by the expiry job and by imports.
CREATE INDEX dnc_entries_expiring ON dnc_entries (expires_at)
    WHERE ended_at IS NULL AND expires_at IS NOT NULL;
