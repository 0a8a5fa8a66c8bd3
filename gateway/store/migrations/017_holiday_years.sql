-- Which years' holiday schedules an admin has declared entered in full. A year the
-- built-in calendar does not cover has a calendar only once it is declared complete
-- here: entering one of its holidays says nothing about the others. `complete` false
-- keeps the row (who withdrew the declaration, and when) and covers nothing.
CREATE TABLE holiday_years (
    year        integer PRIMARY KEY CHECK (year BETWEEN 1970 AND 2199),
    complete    boolean NOT NULL,
    note        text,
    declared_by text NOT NULL,
    declared_at timestamptz NOT NULL DEFAULT now()
);
