-- A recording's length in seconds, measured from the audio when it is uploaded. Rows
-- stored before the gateway measured recordings keep NULL.
ALTER TABLE recordings ADD COLUMN duration_s double precision
    CONSTRAINT recordings_duration_positive CHECK (duration_s IS NULL OR duration_s > 0);
