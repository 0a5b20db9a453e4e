-- pgbench script: the commit of one unchanged fetch (a 304) as herald
-- makes it on PostgreSQL: the fetch row, the source's state and the
-- release of its lease, in one transaction. Needs the `sources` rows
-- s1..s100000 (docs/scaling.md has the setup and the command).
\set n random(1, 100000)
BEGIN;
INSERT INTO fetches (round_id, source, status, http_status, elapsed_ms, attempts, new, seen, dropped,
                     failed_items, finished_at, filtered, instance)
VALUES (1, 's' || :n, 'not_modified', 304, 100, 1, 0, 0, 0, 0, '2026-11-30T12:00:00Z', 0, 'bench');
UPDATE sources SET next_due = coalesce(due_after_fetch, next_due), due_after_fetch = NULL,
                   lease_until = NULL, leased_by = NULL
 WHERE name = 's' || :n AND leased_by = 'bench';
UPDATE sources SET last_attempt_at = '2026-11-30T12:00:00Z', last_success_at = '2026-11-30T12:00:00Z',
                   last_status = 'not_modified', last_error = NULL
 WHERE name = 's' || :n;
UPDATE sources SET next_check_at = NULL, next_check_reason = NULL WHERE name = 's' || :n;
DELETE FROM hosts WHERE host = 'bench.example:80';
COMMIT;
