-- Return-visit (回访) recordings are kept at least 10 years from the call.
DROP FUNCTION recording_retention_until(timestamptz, integer, integer, timestamptz);

CREATE FUNCTION recording_retention_until(
    call_time timestamptz, no_sale_days integer, term_months integer, terminated_at timestamptz,
    return_visit boolean
) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN by_sale IS NULL THEN NULL
        WHEN return_visit THEN greatest(by_sale, add_years_utc(call_time, 10))
        ELSE by_sale
    END
    FROM (SELECT CASE
        WHEN term_months IS NULL THEN call_time + make_interval(days => no_sale_days)
        WHEN terminated_at IS NULL THEN NULL
        WHEN term_months <= 12 THEN add_years_utc(terminated_at, 5)
        ELSE add_years_utc(terminated_at, 10)
    END AS by_sale) s
$$;
