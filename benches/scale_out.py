#!/usr/bin/env python3
"""One vs several herald instances sharing one PostgreSQL database.

Starts the loopback mock news server (../shared/bench/mockserver), gives
every run a fresh database on the PostgreSQL server PG (a libpq string
without dbname), and starts K `herald run` daemons on the same config, on
a schedule firing every `--every` seconds: at each tick they divide the
sources by leasing rows. Two slots are measured: the first stores every
item (insert-bound), the second finds every feed unchanged (304,
latency-bound). A slot's wall time is its longest round (every instance's
round starts at the tick); the script checks each slot fetched every
source exactly once. Prints medians across repeats, slots per minute and
articles per second.

    python3 benches/scale_out.py --herald target/release/herald \
        --mock /tmp/mock-target/release/mockserver --pg "host=/tmp/pg user=herald" \
        --sources 3000 --latency-ms 100 --workers 100 --instances 1,3 --repeats 3 --every 20
"""

import argparse
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def psql(pg, sql):
    subprocess.run(["psql", f"{pg} dbname=postgres", "-qAtc", sql], check=True,
                   stdout=subprocess.DEVNULL)


def query(pg, db, sql):
    out = subprocess.run(["psql", f"{pg} dbname={db}", "-qAtF", "\t", "-c", sql], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def two_slots(herald, configs, pg, db, k, timeout=300):
    """Starts K daemons, waits for two full slots, stops them; returns
    [(wall s, ok, new)] for the two slots."""
    # Start just after a tick, so every instance is up for the next one.
    every = int(configs[0].read_text().split('schedule = "*/')[1].split(" ")[0])
    time.sleep((1.0 - time.time() % every) % every)
    procs = [subprocess.Popen([herald, "--config", str(c), "run"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for c in configs]
    try:
        deadline = time.monotonic() + timeout
        while True:
            slots = query(pg, db,
                          "SELECT started_at, count(*), max(wall_ms), sum(ok), sum(new), "
                          "count(*) FILTER (WHERE finished_at IS NOT NULL) "
                          "FROM rounds GROUP BY started_at ORDER BY started_at")
            done = [row for row in slots if int(row[5]) == k and int(row[1]) == k]
            if len(done) >= 2:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"K={k}: two slots did not finish: {slots}")
            time.sleep(0.5)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
    return [(int(row[2]) / 1000, int(row[3]), int(row[4])) for row in done[:2]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--herald", required=True)
    ap.add_argument("--mock", required=True)
    ap.add_argument("--pg", required=True, help="libpq string without dbname")
    ap.add_argument("--sources", type=int, default=3000)
    ap.add_argument("--latency-ms", type=float, default=100)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--instances", default="1,3")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--every", type=int, default=20, help="seconds between slots")
    args = ap.parse_args()

    mock = subprocess.Popen([args.mock, "--latency-ms", str(args.latency_ms),
                             "--items", str(args.items)],
                            stdout=subprocess.PIPE, text=True)
    port = int(mock.stdout.readline().strip())
    rows = []
    try:
        for k in [int(x) for x in args.instances.split(",")]:
            firsts, seconds, news = [], [], []
            for r in range(args.repeats):
                db = f"herald_scale_{k}_{r}"
                psql(args.pg, f"DROP DATABASE IF EXISTS {db}")
                psql(args.pg, f"CREATE DATABASE {db}")
                work = Path(tempfile.mkdtemp(prefix="herald-scale-"))
                sources = "".join(
                    f'\n[[sources]]\nname = "f{i}"\nkind = "feed"\n'
                    f'url = "http://127.0.0.1:{port}/feed/{i}.xml"\n'
                    for i in range(args.sources))
                text = (f'[daemon]\ndatabase = "{args.pg} dbname={db}"\n'
                        f"workers = {args.workers}\nqueue_capacity = {max(1024, args.sources)}\n"
                        f'schedule = "*/{args.every} * * * * *"\nrun_on_start = false\n'
                        f"[http]\nper_host_concurrency = {args.workers}\n{sources}")
                configs = []
                for i in range(k):
                    path = work / f"herald-{i}.toml"
                    path.write_text(text)
                    configs.append(path)
                # Migrate once up front: rounds are what is measured.
                subprocess.run([args.herald, "--config", str(configs[0]), "prune", "--dry-run"],
                               check=True, stdout=subprocess.DEVNULL)
                (first, ok, new), (second, ok2, _) = two_slots(args.herald, configs, args.pg, db, k)
                if ok != args.sources or ok2 != args.sources:
                    raise SystemExit(f"K={k}: {ok} / {ok2} sources fetched, want {args.sources}")
                firsts.append(first)
                seconds.append(second)
                news.append(new)
                print(f"K={k} run {r + 1}: first slot {first:.2f} s ({new} new), "
                      f"second slot {second:.2f} s", flush=True)
            first = statistics.median(firsts)
            second = statistics.median(seconds)
            new = statistics.median(news)
            rows.append((k, first, new / first, second, 60 / second))
    finally:
        mock.kill()
    print(f"\n{args.sources} sources x {args.latency_ms:.0f} ms, {args.items} items each, "
          f"{args.workers} workers per instance, median of {args.repeats}")
    print("| instances | first slot (all new) | articles/s | second slot (304s) | slots/min possible |")
    print("|---|---|---|---|---|")
    for k, first, rate, second, rpm in rows:
        print(f"| {k} | {first:.2f} s | {rate:,.0f} | {second:.2f} s | {rpm:.1f} |")


if __name__ == "__main__":
    main()
