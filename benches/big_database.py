"""Builds a large herald database for the retention measurements in
docs/performance.md: 1.1 million articles over 180 days from 100 sources, with
hourly rounds of history (about 2.2 GB). Usage:
    herald --config big.toml once    # big.toml names the database and no source:
                                     # this creates and migrates the empty file
    python3 benches/big_database.py /path/to/herald.db
"""
import random, sqlite3, sys, time
from datetime import datetime, timedelta, timezone

db = sys.argv[1]
random.seed(7)
words = ("canal reactor tariff satellite signal rally market strike quantum railway border summit chip "
         "compiler kernel treaty protocol pipeline glacier vote storm startup league orbit audit climate "
         "museum vaccine forest ferry drought virus rocket minister festival island merger harbor river "
         "election opera archive budget senate court verdict airline bridge tunnel stadium festival").split()
summaries = [" ".join(random.choice(words) for _ in range(120)) for _ in range(2000)]
titles = [" ".join(random.choice(words) for _ in range(8)).capitalize() for _ in range(5000)]
now = datetime.now(timezone.utc).replace(microsecond=0)
start = now - timedelta(days=180)
N = 1_100_000
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=OFF")
t0 = time.time()
def ts(t): return t.strftime("%Y-%m-%dT%H:%M:%SZ")
conn.execute("BEGIN")
rows = []
for i in range(N):
    at = start + timedelta(seconds=int(i * 180 * 86400 / N))
    src = f"s{i % 100}"
    rows.append((src, titles[i % 5000] + f" {i}", f"https://news{i % 100}.example/{i}", ts(at), ts(at),
                 summaries[i % 2000], "Ann", f"{i:016x}"))
    if len(rows) == 50_000:
        conn.executemany("INSERT INTO articles (source, title, url, published_at, fetched_at, summary, author, fingerprint) VALUES (?,?,?,?,?,?,?,?)", rows)
        rows = []
conn.executemany("INSERT INTO articles (source, title, url, published_at, fetched_at, summary, author, fingerprint) VALUES (?,?,?,?,?,?,?,?)", rows)
conn.execute("INSERT INTO appearances (article_id, source, first_seen, last_seen) SELECT id, source, fetched_at, fetched_at FROM articles")
# hourly rounds, 100 fetches each
rounds, fetches = [], []
for h in range(180 * 24):
    at = ts(start + timedelta(hours=h))
    rounds.append((h + 2, "*/60", at, at, 100, 100, 0, 0, 255, 0, 900, 800))
    for s in range(100):
        fetches.append((h + 2, f"s{s}", "ok", 200, 120, 1, 3, 17, 0, 0, at))
conn.executemany("INSERT INTO rounds (id, trigger, started_at, finished_at, planned, ok, failed, skipped, new, seen, wall_ms, ideal_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rounds)
conn.executemany("INSERT INTO fetches (round_id, source, status, http_status, elapsed_ms, attempts, new, seen, dropped, failed_items, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", fetches)
conn.execute("COMMIT")
print(f"rows in {time.time()-t0:.0f}s", flush=True)
conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')")
conn.execute("UPDATE search_index SET indexed_through = (SELECT max(id) FROM articles)")
conn.commit()
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(f"done in {time.time()-t0:.0f}s", flush=True)
