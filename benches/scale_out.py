#!/usr/bin/env python3
"""One vs several herald instances sharing one PostgreSQL database.

Starts the loopback mock news server (../shared/bench/mockserver), gives
every run a fresh database on the PostgreSQL server PG (a libpq string
without dbname), and runs K `herald once` processes at the same moment on
the same config: they divide the sources by leasing rows. Each run is two
rounds: the first stores every item (insert-bound), the second finds every
feed unchanged (304, latency-bound). Prints medians of the wall time of
each round across repeats, rounds per minute and articles per second.

    python3 benches/scale_out.py --herald target/release/herald \
        --mock /tmp/mock-target/release/mockserver --pg "host=/tmp/pg user=herald" \
        --sources 3000 --latency-ms 100 --workers 100 --instances 1,3 --repeats 3
"""

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def psql(pg, sql):
    subprocess.run(["psql", f"{pg} dbname=postgres", "-qAtc", sql], check=True,
                   stdout=subprocess.DEVNULL)


def round_of(herald, configs):
    """Runs one `herald once` per config at once; returns (wall s, reports)."""
    started = time.monotonic()
    procs = [subprocess.Popen([herald, "--config", str(c), "once", "--format", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for c in configs]
    outs = [p.communicate(timeout=600) for p in procs]
    wall = time.monotonic() - started
    reports = []
    for (out, err), p in zip(outs, procs):
        if p.returncode not in (0, 1):
            raise SystemExit(f"herald once failed ({p.returncode}): {err.decode()[-2000:]}")
        reports.append(json.loads(out))
    return wall, reports


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
    args = ap.parse_args()

    mock = subprocess.Popen([args.mock, "--latency-ms", str(args.latency_ms),
                             "--items", str(args.items)],
                            stdout=subprocess.PIPE, text=True)
    port = int(mock.stdout.readline().strip())
    rows = []
    try:
        for k in [int(x) for x in args.instances.split(",")]:
            firsts, seconds, news, oks = [], [], [], []
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
                        f'schedule = "0 0 1 1 *"\n'
                        f"[http]\nper_host_concurrency = {args.workers}\n{sources}")
                configs = []
                for i in range(k):
                    path = work / f"herald-{i}.toml"
                    path.write_text(text)
                    configs.append(path)
                # Migrate once up front: rounds are what is measured.
                subprocess.run([args.herald, "--config", str(configs[0]), "prune", "--dry-run"],
                               check=True, stdout=subprocess.DEVNULL)
                first, reports = round_of(args.herald, configs)
                ok = sum(rep["totals"]["ok"] for rep in reports)
                new = sum(rep["totals"]["new"] for rep in reports)
                second, reports2 = round_of(args.herald, configs)
                ok2 = sum(rep["totals"]["ok"] for rep in reports2)
                if ok != args.sources or ok2 != args.sources:
                    raise SystemExit(f"K={k}: {ok} / {ok2} sources fetched, want {args.sources}")
                firsts.append(first)
                seconds.append(second)
                news.append(new)
                oks.append([rep["totals"]["ok"] for rep in reports])
                print(f"K={k} run {r + 1}: first round {first:.2f} s ({new} new, per instance "
                      f"{oks[-1]}), second round {second:.2f} s", flush=True)
            first = statistics.median(firsts)
            second = statistics.median(seconds)
            new = statistics.median(news)
            rows.append((k, first, new / first, second, 60 / second))
    finally:
        mock.kill()
    print(f"\n{args.sources} sources x {args.latency_ms:.0f} ms, {args.items} items each, "
          f"{args.workers} workers per instance, median of {args.repeats}")
    print("| instances | first round (all new) | articles/s | second round (304s) | rounds/min |")
    print("|---|---|---|---|---|")
    for k, first, rate, second, rpm in rows:
        print(f"| {k} | {first:.2f} s | {rate:,.0f} | {second:.2f} s | {rpm:.1f} |")


if __name__ == "__main__":
    main()
