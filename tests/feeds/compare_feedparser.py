#!/usr/bin/env python3
"""Reads the fixture corpus with Python's feedparser and compares what it
finds with the expectations herald is tested against: how far herald's idea
of "forgiving" agrees with the universal feed parser's.

Not part of CI (it needs feedparser: pip install feedparser). Run from
anywhere: python3 tests/feeds/compare_feedparser.py [--verbose]

A fixture agrees when feedparser finds the same number of items (counting
only items with a link, as herald drops the others) with the same title,
link and publication time wherever the expectation names them; for a
document that is not a feed, when feedparser finds no items. Titles are
compared as plain text (tags stripped, whitespace collapsed), because
feedparser keeps sanitised HTML where herald keeps text.
"""

import calendar
import datetime
import html
import json
import os
import re
import sys

import feedparser

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
BASE = "https://fixtures.example/feeds/"


def plain(text):
    if text is None:
        return None
    text = re.sub(r"<[^>]*>", " ", text)
    text = html.unescape(text)
    return " ".join(text.split())


def iso(parsed):
    if parsed is None:
        return None
    when = datetime.datetime.fromtimestamp(calendar.timegm(parsed), datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def read(name, ext, expected):
    with open(os.path.join(CASES, f"{name}.{ext}"), "rb") as f:
        body = f.read()
    headers = {"content-location": BASE + name}
    if "content_type" in expected:
        headers["content-type"] = expected["content_type"]
    return feedparser.parse(body, response_headers=headers)


def compare(expected, parsed):
    """The differences, as a list of short strings (empty when they agree)."""
    entries = [e for e in parsed.entries if e.get("link")]
    if "error" in expected:
        return [] if not entries else [f"read {len(entries)} items from a non-feed"]
    want = expected.get("items", [])
    if len(entries) != len(want):
        return [f"{len(entries)} items, expected {len(want)}"]
    problems = []
    for index, (item, entry) in enumerate(zip(want, entries)):
        if "title" in item and plain(entry.get("title")) != plain(item["title"]):
            problems.append(f"item {index} title {plain(entry.get('title'))!r}, expected {item['title']!r}")
        if "link" in item and entry.get("link") != item["link"]:
            problems.append(f"item {index} link {entry.get('link')!r}, expected {item['link']!r}")
        if "published" in item:
            got = iso(entry.get("published_parsed") or entry.get("updated_parsed"))
            if got != item["published"]:
                problems.append(f"item {index} published {got}, expected {item['published']}")
    return problems


def main():
    verbose = "--verbose" in sys.argv
    names = sorted(f for f in os.listdir(CASES) if not f.endswith(".expected.json"))
    agree = 0
    by_group = {}
    for file in names:
        name, ext = file.rsplit(".", 1)
        with open(os.path.join(CASES, f"{name}.expected.json"), encoding="utf-8") as f:
            expected = json.load(f)
        try:
            problems = compare(expected, read(name, ext, expected))
        except Exception as error:  # feedparser itself gives up on a few
            problems = [f"feedparser raised {type(error).__name__}: {error}"]
        group = name.split("-", 1)[0]
        total, ok = by_group.get(group, (0, 0))
        by_group[group] = (total + 1, ok + (not problems))
        if problems:
            if verbose:
                print(f"{name}: " + "; ".join(problems))
        else:
            agree += 1
    print(f"feedparser {feedparser.__version__} agrees with herald's expectations on "
          f"{agree} of {len(names)} fixtures ({100 * agree / len(names):.1f}%)")
    # feedparser 6.0 reads no JSON Feed at all: the XML-only figure is the fair one.
    json_total, json_ok = by_group.get("jsonfeed", (0, 0))
    xml_total, xml_ok = len(names) - json_total, agree - json_ok
    if xml_total:
        print(f"  XML fixtures only: {xml_ok} of {xml_total} ({100 * xml_ok / xml_total:.1f}%)")
    for group, (total, ok) in sorted(by_group.items()):
        print(f"  {group:10} {ok:3} / {total}")


if __name__ == "__main__":
    main()
