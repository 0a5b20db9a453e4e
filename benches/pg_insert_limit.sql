-- pgbench script: one fetch's commit as herald makes it on PostgreSQL (20
-- new articles in one INSERT … SELECT, each indexed for full-text search by
-- the stored tsvector and its GIN index), to find the database's own limit
-- on this machine. See docs/scaling.md for the command.
\set feed random(1, 1000000000)
INSERT INTO articles (source, fetched_at, url, title, summary, fingerprint)
SELECT 'bench', '2026-11-30T12:00:00Z',
       'https://bench.example/' || :feed || '/' || n || '/' || clock_timestamp(),
       'Story ' || n || ' of feed ' || :feed || ' about rust sqlite postgres releases',
       repeat('A summary sentence with several ordinary English words in it. ', 3),
       md5(n::text || :feed)
FROM generate_series(1, 20) AS n;
