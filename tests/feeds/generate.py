#!/usr/bin/env python3
"""Writes herald's feed fixture corpus: one feed per file, and next to it
NAME.expected.json saying what a forgiving reader finds in it.

The expectations are written here, by construction, for each case: they are
never produced by running herald. `cargo test --test feeds` checks herald
against them; compare_feedparser.py checks Python's feedparser against them.

Run from anywhere: python3 tests/feeds/generate.py (it rewrites the corpus).

Expected JSON keys: "items" (each item's keys are checked when present:
title, link, published, author, summary, categories, enclosure), "warnings"
(the exact repair record; [] means "read cleanly"), "warnings_include"
(substrings that must appear in it), "error" (the start of the failure),
"content_type" (sent as the HTTP Content-Type), "ttl_minutes".
"""

import json
import os
import shutil
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cases")
BASE = "https://fixtures.example/feeds/"
CASES = []


def case(name, body, expected, ext="xml"):
    CASES.append((name, ext, body, expected))


def item(title="Item one", link="https://news.example/1", **extra):
    out = {"title": title, "link": link}
    out.update(extra)
    return out


def rss(items_xml, version="2.0", channel_extra="", head='<?xml version="1.0" encoding="utf-8"?>\n', ns=""):
    version_attr = f' version="{version}"' if version is not None else ""
    return (
        f'{head}<rss{version_attr}{ns}><channel><title>Fixture</title>'
        f"<link>https://news.example/</link><description>d</description>{channel_extra}"
        f"{items_xml}</channel></rss>\n"
    )


def rss_item(title="Item one", link="https://news.example/1", extra=""):
    return f"<item><title>{title}</title><link>{link}</link>{extra}</item>"


def atom(entries_xml, feed_extra="", ns='xmlns="http://www.w3.org/2005/Atom"'):
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed {ns}><title>Fixture</title>'
        f'<id>urn:fixture</id><updated>2026-11-22T10:00:00Z</updated>{feed_extra}{entries_xml}</feed>\n'
    )


def atom_entry(title="Item one", link="https://news.example/1", extra="", title_attrs=""):
    return (
        f"<entry><title{title_attrs}>{title}</title><link href=\"{link}\"/>"
        f"<id>urn:{zlib.crc32(title.encode())}</id><updated>2026-11-22T10:00:00Z</updated>{extra}</entry>"
    )


ONE = [item()]

# --- RSS versions ----------------------------------------------------------
for version in ["0.91", "0.92", "0.93", "0.94", "2.0", "2.01", "2.1", "3.0"]:
    case(f"rss-version-{version.replace('.', '_')}", rss(rss_item(), version), {"items": ONE, "warnings": []})
case("rss-version-none", rss(rss_item(), None), {"items": ONE, "warnings": []})
case(
    "rss-0_91-netscape-doctype",
    '<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
    '"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n' + rss(rss_item(), "0.91", head=""),
    {"items": ONE, "warnings": []},
)
case(
    "rss-0_91-userland",
    rss(rss_item(extra="<description>A &lt;b&gt;bold&lt;/b&gt; claim</description>"), "0.91"),
    {"items": [item(summary="A bold claim")], "warnings": []},
)
RDF_HEAD = ('<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="{ns}" xmlns:dc="http://purl.org/dc/elements/1.1/">')
case(
    "rss-0_90-rdf",
    RDF_HEAD.format(ns="http://my.netscape.com/rdf/simple/0.9/")
    + "<channel><title>Fixture</title><link>https://news.example/</link></channel>"
    + "<item><title>Item one</title><link>https://news.example/1</link></item>"
    + "<item><title>Item two</title><link>https://news.example/2</link></item></rdf:RDF>",
    {"items": [item(), item("Item two", "https://news.example/2")], "warnings": []},
)
case(
    "rss-1_0-rdf-dc",
    RDF_HEAD.format(ns="http://purl.org/rss/1.0/")
    + '<channel rdf:about="https://news.example/"><title>Fixture</title><link>https://news.example/</link></channel>'
    + '<item rdf:about="https://news.example/1"><title>Item one</title><link>https://news.example/1</link>'
    + "<dc:date>2026-11-22T10:00:00Z</dc:date><dc:creator>Ana</dc:creator><dc:subject>World</dc:subject>"
    + "<description>Summary one</description></item></rdf:RDF>",
    {"items": [item(published="2026-11-22T10:00:00Z", author="Ana", categories=["World"], summary="Summary one")], "warnings": []},
)
case("rss-empty-channel", rss(""), {"items": [], "warnings": []})
case(
    "rss-items-without-channel",
    '<?xml version="1.0"?>\n<rss version="2.0">' + rss_item() + rss_item("Item two", "https://news.example/2") + "</rss>",
    {"items": [item(), item("Item two", "https://news.example/2")], "warnings": []},
)
case(
    "rss-channel-root",
    "<channel><title>t</title>" + rss_item() + "</channel>",
    {"items": ONE, "warnings": ["RSS channel without an <rss> root"]},
)
case(
    "rss-every-field",
    rss(
        rss_item(extra=(
            "<description>The &lt;p&gt;summary&lt;/p&gt;</description>"
            "<pubDate>Sun, 22 Nov 2026 10:00:00 GMT</pubDate>"
            "<author>ana@news.example (Ana Ruiz)</author>"
            "<category>World</category><category>Politics</category><category>World</category>"
            '<enclosure url="https://cdn.news.example/1.mp3" type="audio/mpeg" length="12345"/>'
            '<guid isPermaLink="false">tag:news.example,2026:1</guid>'
        )),
        ns=' xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    ),
    {"items": [item(
        summary="The summary", published="2026-11-22T10:00:00Z", author="Ana Ruiz",
        categories=["World", "Politics"],
        enclosure={"url": "https://cdn.news.example/1.mp3", "type": "audio/mpeg", "length": 12345},
    )], "warnings": []},
)
case(
    "rss-guid-permalink-as-link",
    rss("<item><title>Only a guid</title><guid>https://news.example/guid-1</guid></item>"),
    {"items": [item("Only a guid", "https://news.example/guid-1")], "warnings": []},
)
case(
    "rss-content-encoded",
    rss(
        rss_item(extra="<content:encoded><![CDATA[<p>Full <b>content</b> here</p>]]></content:encoded>"),
        ns=' xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    ),
    {"items": [item(summary="Full content here")], "warnings": []},
)
case(
    "rss-dc-creator",
    rss(rss_item(extra="<dc:creator>Mo Chen</dc:creator>"), ns=' xmlns:dc="http://purl.org/dc/elements/1.1/"'),
    {"items": [item(author="Mo Chen")], "warnings": []},
)
case(
    "rss-ttl",
    rss(rss_item(), channel_extra="<ttl>45</ttl>"),
    {"items": ONE, "warnings": [], "ttl_minutes": 45},
)
case(
    "rss-relative-links",
    rss(rss_item(link="/news/1")),
    {"items": [item(link="https://fixtures.example/news/1")], "warnings": []},
)
case(
    "rss-cdata-title",
    rss(rss_item(title="<![CDATA[Fish & Chips <b>fried</b>]]>")),
    {"items": [item("Fish & Chips fried")], "warnings": []},
)
case(
    "rss-many-items",
    rss("".join(rss_item(f"Story {i}", f"https://news.example/{i}") for i in range(50))),
    {"items": [item(f"Story {i}", f"https://news.example/{i}") for i in range(50)], "warnings": []},
)
case(
    "rss-item-without-link-dropped",
    rss("<item><title>No link</title></item>" + rss_item()),
    {"items": ONE, "warnings": []},
)

# --- Markup errors ---------------------------------------------------------
case("error-bare-ampersand-title", rss(rss_item("Fish & Chips")), {"items": [item("Fish & Chips")], "warnings": ["bare ampersand escaped"]})
case(
    "error-bare-ampersand-everywhere",
    rss(rss_item("Fish & Chips & Peas", "https://news.example/1?a=1&b=2", "<description>Salt & vinegar</description>")),
    {"items": [item("Fish & Chips & Peas", "https://news.example/1?a=1&b=2", summary="Salt & vinegar")],
     "warnings": ["bare ampersand escaped ×4"]},
)
case("error-ampersand-and-entity", rss(rss_item("Fish &amp; Chips & Peas")), {"items": [item("Fish & Chips & Peas")], "warnings": ["bare ampersand escaped"]})
for entity, char in [("nbsp", "\u00a0"), ("eacute", "é"), ("mdash", "—"), ("hellip", "…"), ("rsquo", "’"),
                     ("copy", "©"), ("trade", "™"), ("euro", "€"), ("ndash", "–"), ("laquo", "«"),
                     ("Eacute", "É"), ("auml", "ä"), ("szlig", "ß"), ("ccedil", "ç")]:
    title = f"Before &{entity}; after"
    case(f"error-html-entity-{entity}", rss(rss_item(title)), {"items": [item(" ".join(f"Before {char} after".split()))], "warnings": ["HTML entity decoded"]})
case(
    "error-html-entities-many",
    rss(rss_item("Caf&eacute; &amp; cr&egrave;me &mdash; d&eacute;j&agrave; vu&hellip;")),
    {"items": [item("Café & crème — déjà vu…")], "warnings": ["HTML entity decoded ×6"]},
)
for name, ref in [("nul", "&#0;"), ("fffe", "&#xFFFE;"), ("ffff", "&#xFFFF;"), ("surrogate", "&#xD800;"),
                  ("beyond-unicode", "&#x110000;"), ("control", "&#1;"), ("huge-decimal", "&#99999999999;")]:
    case(f"error-invalid-reference-{name}", rss(rss_item(f"Bad{ref}ref")), {"items": [item("Badref")], "warnings": ["invalid character reference dropped"]})
case("valid-references", rss(rss_item("It&#8217;s &#x2014; &#169; &#x1F980;")), {"items": [item("It’s — © 🦀")], "warnings": []})
case("error-unknown-entity", rss(rss_item("Weird &foobar; entity")), {"items": [item("Weird &foobar; entity")], "warnings": ["unknown entity kept as text"]})
case(
    "error-misspelled-end-tag",
    rss(rss_item(), channel_extra="<language>en</langauge>"),
    {"items": ONE, "warnings": ["mismatched end tag read as the open element's"]},
)
case(
    "error-misspelled-end-tag-in-item",
    rss("<item><title>Item one</titel><link>https://news.example/1</link></item>"),
    {"items": ONE, "warnings": ["mismatched end tag read as the open element's"]},
)
case(
    "error-end-tag-case",
    rss("<item><title>Item one</Title><link>https://news.example/1</LINK></item>"),
    {"items": ONE, "warnings": []},
)
case(
    "error-unclosed-item",
    rss("<item><title>Item one</title><link>https://news.example/1</link>" + rss_item("Item two", "https://news.example/2")),
    {"items": [item(), item("Item two", "https://news.example/2")], "warnings_include": ["unclosed element closed"]},
)
case(
    "error-unclosed-title",
    rss("<item><title>Item one<link>https://news.example/1</link></item>"),
    {"items": ONE, "warnings_include": ["unclosed element closed"]},
)
case(
    "error-unclosed-description-html",
    rss(rss_item(extra="<description><p>Para one<br>line two<p>Para two</description>")),
    {"items": [item(summary="Para one line two Para two")], "warnings": []},
)
case(
    "error-stray-end-tag-in-content",
    rss(rss_item(extra="<description>Text</b> more</description>")),
    {"items": [item(summary="Text more")], "warnings": []},
)
for name, cut in [("in-item", "<item><title>Second"), ("in-tag", "<item><tit"), ("after-item", ""),
                  ("in-cdata", "<item><title><![CDATA[half"), ("in-attribute", '<item><enclosure url="http://x')]:
    body = rss(rss_item(), channel_extra="")
    body = body[: body.index("</channel>")] + cut
    case(f"error-truncated-{name}", body, {"items": ONE, "warnings_include": ["document cut off"]} if name != "in-tag" and name != "in-attribute" else {"items": ONE})
case("junk-whitespace-before-root", "\n\n   \t" + rss(rss_item(), head=""), {"items": ONE, "warnings": []})
case("junk-comment-before-root", "<!-- generated by a CMS -->\n" + rss(rss_item(), head=""), {"items": ONE, "warnings": []})
case("junk-text-before-root", "PHP Warning: deprecated in feed.php on line 3\n" + rss(rss_item(), head=""),
     {"items": ONE, "warnings": ["junk before the root element skipped"]})
case("junk-bom-twice", "\ufeff\ufeff" + rss(rss_item()), {"items": ONE, "warnings": ["byte-order mark repeated"]})
case("junk-utf8-bom-before-utf16-declaration", "\ufeff" + rss(rss_item(), head='<?xml version="1.0" encoding="UTF-16"?>\n'),
     {"items": ONE, "warnings": []})
case(
    "error-undeclared-prefix",
    rss(rss_item(extra="<dc:creator>Ana</dc:creator><media:thumbnail url=\"https://x.example/t.jpg\"/>")),
    {"items": [item(author="Ana")], "warnings": ["undeclared namespace prefix ×2"]},
)
case(
    "doctype-internal-entities",
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY site "News Example">\n<!ENTITY full "&site; Weekly">\n]>\n'
    + rss(rss_item("From &full;"), head=""),
    {"items": [item("From News Example Weekly")], "warnings": []},
)
laughs = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">\n' for i in range(1, 10))
case(
    "doctype-billion-laughs",
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol0 "lol">\n' + laughs + "]>\n" + rss(rss_item("Laugh &lol9;"), head=""),
    {"items": [item("Laugh &lol9;")], "warnings": ["internal entity too large to expand, kept as text"]},
)
case(
    "doctype-external-entity-never-fetched",
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY secret SYSTEM "file:///etc/passwd">\n]>\n' + rss(rss_item("Leak &secret;"), head=""),
    {"items": [item("Leak &secret;")], "warnings": ["unknown entity kept as text"]},
)

# --- Atom ----------------------------------------------------------------
case("atom-1_0", atom(atom_entry()), {"items": ONE, "warnings": []})
case(
    "atom-every-field",
    atom(atom_entry(extra=(
        "<published>2026-11-22T09:00:00Z</published><summary>Short</summary>"
        "<content type=\"html\">&lt;p&gt;Long&lt;/p&gt;</content><author><name>Ada</name><email>a@x.example</email></author>"
        '<category term="Science"/><category term="Space" label="Outer space"/>'
        '<link rel="enclosure" href="https://cdn.news.example/v.mp4" type="video/mp4" length="99"/>'
        '<link rel="self" href="https://news.example/self"/>'
    ))),
    {"items": [item(published="2026-11-22T09:00:00Z", summary="Short", author="Ada", categories=["Science", "Space"],
                    enclosure={"url": "https://cdn.news.example/v.mp4", "type": "video/mp4", "length": 99})], "warnings": []},
)
for kind, attrs, body, want in [
    ("text", ' type="text"', "Plain &amp; simple", "Plain & simple"),
    ("html", ' type="html"', "&lt;b&gt;Bold&lt;/b&gt; title", "Bold title"),
    ("xhtml", ' type="xhtml"', '<div xmlns="http://www.w3.org/1999/xhtml"><b>Bold</b> title</div>', "Bold title"),
    ("text-plain", ' type="text/plain"', "Plain MIME", "Plain MIME"),
    ("xhtml-mime", ' type="application/xhtml+xml"', '<div xmlns="http://www.w3.org/1999/xhtml">Mime <i>x</i></div>', "Mime x"),
    ("empty-type", ' type=""', "Empty type", "Empty type"),
    ("text-html-mime", ' type="text/html"', "&lt;i&gt;It&lt;/i&gt; works", "It works"),
]:
    case(f"atom-title-type-{kind}", atom(atom_entry(title=body, title_attrs=attrs)), {"items": [item(want)], "warnings": []})
case(
    "atom-content-base64-mime",
    atom(atom_entry(extra='<content type="text/x-note;charset=utf-8">plain note</content><summary type="application/octet-stream">SGVsbG8gYmFzZTY0</summary>')),
    {"items": [item(summary="Hello base64")], "warnings": []},
)
case(
    "atom-content-binary-skipped",
    atom(atom_entry(extra='<content type="image/png">iVBORw0KGgoAAAANSUhEUg==</content>')),
    {"items": [item()], "warnings": ["binary content skipped"]},
)
case(
    "atom-no-alternate-link-type",
    atom('<entry><title>Item one</title><link rel="alternate" type="text/html" href="https://news.example/1"/><link rel="alternate" type="application/pdf" href="https://news.example/1.pdf"/><id>x</id></entry>'),
    {"items": ONE, "warnings": []},
)
case(
    "atom-xml-base-entry",
    atom('<entry xml:base="https://other.example/base/"><title>Item one</title><link href="post/1"/><id>x</id></entry>'),
    {"items": [item(link="https://other.example/base/post/1")], "warnings": []},
)
case(
    "atom-xml-base-feed",
    '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example/blog/"><title>t</title>'
    '<entry><title>Item one</title><link href="2026/post"/><id>x</id></entry></feed>',
    {"items": [item(link="https://base.example/blog/2026/post")], "warnings": []},
)
case(
    "atom-xml-base-on-link",
    atom('<entry><title>Item one</title><link xml:base="https://link.example/a/" href="b"/><id>x</id></entry>'),
    {"items": [item(link="https://link.example/a/b")], "warnings": []},
)
case(
    "atom-id-as-link",
    atom("<entry><title>Only an id</title><id>https://news.example/by-id</id></entry>"),
    {"items": [item("Only an id", "https://news.example/by-id")], "warnings": []},
)
case("atom-empty-feed", atom(""), {"items": [], "warnings": []})
ATOM03 = '<?xml version="1.0"?>\n<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>Old</title><tagline>An old tag line</tagline><copyright>(c) 2004</copyright><modified>2004-01-02T00:00:00Z</modified>{}</feed>'
case(
    "atom-0_3-full",
    ATOM03.format('<entry><title>Item one</title><link rel="alternate" type="text/html" href="https://news.example/1"/>'
                  "<issued>2004-01-01T00:00:00Z</issued><modified>2004-01-02T00:00:00Z</modified><created>2003-12-31T00:00:00Z</created>"
                  '<id>tag:x,2004:1</id><summary type="text/html" mode="escaped">Escaped &lt;b&gt;bold&lt;/b&gt;</summary></entry>'),
    {"items": [item(published="2004-01-01T00:00:00Z", summary="Escaped bold")], "warnings": []},
)
case(
    "atom-0_3-created-only",
    ATOM03.format('<entry><title>Item one</title><link href="https://news.example/1"/><created>2003-12-31T00:00:00Z</created><id>y</id></entry>'),
    {"items": [item(published="2003-12-31T00:00:00Z")], "warnings": []},
)
case(
    "atom-0_3-mode-base64",
    ATOM03.format('<entry><title>Item one</title><link href="https://news.example/1"/><id>z</id>'
                  '<content type="text/html" mode="base64">PGI+QmFzZTwvYj4gNjQ=</content></entry>'),
    {"items": [item(summary="Base 64")], "warnings": []},
)
case(
    "atom-0_3-mode-xml",
    ATOM03.format('<entry><title>Item one</title><link href="https://news.example/1"/><id>w</id>'
                  '<content type="application/xhtml+xml" mode="xml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Inline <i>xml</i></p></div></content></entry>'),
    {"items": [item(summary="Inline xml")], "warnings": []},
)
case(
    "atom-prefixed-elements",
    '<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"><atom:title>t</atom:title>'
    '<atom:entry><atom:title>Item one</atom:title><atom:link href="https://news.example/1"/><atom:id>x</atom:id></atom:entry></atom:feed>',
    {"items": ONE, "warnings": []},
)

# --- JSON Feed -------------------------------------------------------------
def jf(version, items, extra=None):
    doc = {"title": "Fixture", "home_page_url": "https://news.example/", "items": items}
    if version is not None:
        doc["version"] = version
    if extra:
        doc.update(extra)
    return json.dumps(doc, ensure_ascii=False)


JF_ITEM = {"id": "1", "url": "https://news.example/1", "title": "Item one"}
for name, version in [("url-1", "https://jsonfeed.org/version/1"), ("url-1_1", "https://jsonfeed.org/version/1.1"),
                      ("plain-1_0", "1.0"), ("plain-1_1", "1.1"), ("missing", None), ("odd", "v2-beta")]:
    case(f"jsonfeed-version-{name}", jf(version, [JF_ITEM]), {"items": ONE, "warnings": []}, "json")
case(
    "jsonfeed-every-field",
    jf("https://jsonfeed.org/version/1.1", [dict(JF_ITEM, summary="Sum", content_html="<p>Body</p>",
       date_published="2026-11-22T10:00:00+02:00", authors=[{"name": "Ana"}], tags=["World", "Europe"],
       attachments=[{"url": "https://cdn.news.example/a.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 42}])]),
    {"items": [item(summary="Sum", published="2026-11-22T08:00:00Z", author="Ana", categories=["World", "Europe"],
                    enclosure={"url": "https://cdn.news.example/a.mp3", "type": "audio/mpeg", "length": 42})], "warnings": []},
    "json",
)
case("jsonfeed-1_0-author", jf("https://jsonfeed.org/version/1", [dict(JF_ITEM, author={"name": "Old Style"})]),
     {"items": [item(author="Old Style")], "warnings": []}, "json")
case("jsonfeed-external-url", jf("1.1", [{"id": "x", "external_url": "https://elsewhere.example/x", "title": "Linked"}]),
     {"items": [item("Linked", "https://elsewhere.example/x")], "warnings": []}, "json")
case("jsonfeed-content-text-only", jf("1.1", [dict(JF_ITEM, content_text="Just text")]),
     {"items": [item(summary="Just text")], "warnings": []}, "json")
case("jsonfeed-lone-surrogate",
     '{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","url":"https://news.example/1","title":"Half \\ud83d emoji"},{"id":"2","url":"https://news.example/2","title":"Whole \\ud83e\\udd80"}]}',
     {"items": [item("Half \ufffd emoji"), item("Whole 🦀", "https://news.example/2")], "warnings": ["lone surrogate escape read as U+FFFD"]}, "json")
case("jsonfeed-empty-items", jf("1.1", []), {"items": [], "warnings": []}, "json")
case("jsonfeed-bom", "\ufeff" + jf("1.1", [JF_ITEM]), {"items": ONE, "warnings": []}, "json")
case("jsonfeed-bad-date", jf("1.1", [dict(JF_ITEM, date_published="last Tuesday")]),
     {"items": [item(published=None)], "warnings": ["unreadable date left unknown"]}, "json")
case("not-feed-json-other-shape", '{"data": {"stories": []}}', {"error": "not a feed: JSON, but not a JSON Feed"}, "json")
case("not-feed-invalid-json", '{"items": [ {"title": ', {"error": "not a feed: invalid JSON"}, "json")

# --- Encodings -----------------------------------------------------------
TITLE_UNI = "Café – Zürich “quoted”"


def enc_case(name, text, encoding, content_type=None, bom=b"", warnings=None):
    CASES.append((name, "xml", bom + text.encode(encoding), dict(
        {"items": [item(TITLE_UNI)]}, **({"content_type": content_type} if content_type else {}),
        **({"warnings": warnings} if warnings is not None else {}))))


def declared(enc):
    return rss(rss_item(TITLE_UNI), head=f'<?xml version="1.0" encoding="{enc}"?>\n')


plain = rss(rss_item(TITLE_UNI), head='<?xml version="1.0"?>\n')
enc_case("enc-utf8-no-declaration", plain, "utf-8", warnings=[])
enc_case("enc-utf8-bom", plain, "utf-8", bom=b"\xef\xbb\xbf", warnings=[])
enc_case("enc-utf8-declared", declared("utf-8"), "utf-8", warnings=[])
enc_case("enc-windows1252-declared", declared("windows-1252"), "cp1252", warnings=[])
enc_case("enc-windows1252-http", plain, "cp1252", "application/rss+xml; charset=windows-1252", warnings=[])
enc_case("enc-http-beats-declaration", declared("utf-8"), "cp1252", "text/xml; charset=windows-1252", warnings=[])
enc_case("enc-windows1252-claiming-utf8", declared("utf-8"), "cp1252", "text/xml; charset=utf-8",
         warnings=["not valid UTF-8: read as Windows-1252"])
enc_case("enc-undeclared-windows1252", plain, "cp1252", warnings=["not valid UTF-8: read as Windows-1252"])
for bom_name, codec, bom in [("utf16le", "utf-16-le", b"\xff\xfe"), ("utf16be", "utf-16-be", b"\xfe\xff"),
                             ("utf32le", "utf-32-le", b"\xff\xfe\x00\x00"), ("utf32be", "utf-32-be", b"\x00\x00\xfe\xff")]:
    enc_case(f"enc-{bom_name}-bom-declared", declared(codec.replace("-le", "").replace("-be", "").upper()), codec, bom=bom, warnings=[])
    enc_case(f"enc-{bom_name}-bom-undeclared", plain, codec, bom=bom, warnings=[])
    enc_case(f"enc-{bom_name}-no-bom-declared", declared(codec.replace("-le", "").replace("-be", "").upper()), codec, warnings=[])
    enc_case(f"enc-{bom_name}-no-bom-undeclared", plain, codec, warnings=[])
    enc_case(f"enc-{bom_name}-wrong-http-charset", plain, codec, "text/xml; charset=iso-8859-1", bom=bom, warnings=[])
enc_case("enc-stale-utf16-declaration", declared("UTF-16"), "utf-8", warnings=[])
enc_case("enc-bogus-http-charset", plain, "utf-8", "text/xml; charset=utf-8x-bogus", warnings=['unknown charset "utf-8x-bogus" ignored'])
enc_case("enc-bogus-declaration", declared("made-up-8"), "utf-8", warnings=['unknown charset "made-up-8" ignored'])
enc_case("enc-http-charset-quoted", plain, "cp1252", 'text/xml; charset="Windows-1252"', warnings=[])
enc_case("enc-http-charset-ignored-for-octet-stream", declared("windows-1252"), "cp1252", "application/octet-stream; charset=utf-16", warnings=[])
for name, codec, title in [("koi8r", "koi8-r", "Новости дня"), ("shift-jis", "shift_jis", "今日のニュース"),
                           ("gb2312", "gb2312", "今日新闻"), ("iso8859-15", "iso-8859-15", "Prix en €"),
                           ("iso8859-7", "iso-8859-7", "Ειδήσεις"), ("big5", "big5", "今日新聞"), ("euc-kr", "euc-kr", "오늘의 뉴스")]:
    CASES.append((f"enc-{name}", "xml", rss(rss_item(title), head=f'<?xml version="1.0" encoding="{codec}"?>\n').encode(codec),
                  {"items": [item(title)], "warnings": []}))
utf8_with_bad_byte = plain.encode("utf-8").replace("Zürich".encode("utf-8"), "Zürich".encode("utf-8") + b"\xff")
CASES.append(("enc-utf8-one-invalid-byte", "xml", utf8_with_bad_byte,
              {"items": [item(TITLE_UNI.replace("Zürich", "Zürich\ufffd"))], "warnings": ["bytes invalid in UTF-8 replaced with U+FFFD"]}))
shift = rss(rss_item("今日のニュース@"), head='<?xml version="1.0" encoding="shift_jis"?>\n').encode("shift_jis").replace(b"@", b"\x82")
CASES.append(("enc-invalid-bytes-in-declared-encoding", "xml", shift,
              {"items": [item("今日のニュース\ufffd")], "warnings": ["bytes invalid in Shift_JIS replaced with U+FFFD"]}))

# --- Dates -----------------------------------------------------------------
DATES = [
    ("rfc822", "Sun, 22 Nov 2026 10:00:00 GMT", "2026-11-22T10:00:00Z"),
    ("rfc822-no-weekday", "22 Nov 2026 10:00:00 GMT", "2026-11-22T10:00:00Z"),
    ("rfc822-two-digit-year", "Sun, 22 Nov 26 10:00:00 GMT", "2026-11-22T10:00:00Z"),
    ("rfc822-numeric-zone", "Sun, 22 Nov 2026 12:00:00 +0200", "2026-11-22T10:00:00Z"),
    ("rfc822-colon-zone", "Sun, 22 Nov 2026 12:00:00 +02:00", "2026-11-22T10:00:00Z"),
    ("rfc822-est", "Sun, 22 Nov 2026 05:00:00 EST", "2026-11-22T10:00:00Z"),
    ("rfc822-pdt", "Sun, 22 Nov 2026 03:00:00 PDT", "2026-11-22T10:00:00Z"),
    ("rfc822-no-seconds", "Sun, 22 Nov 2026 10:00 GMT", "2026-11-22T10:00:00Z"),
    ("rfc822-full-names", "Sunday, 22 November 2026 10:00:00 GMT", "2026-11-22T10:00:00Z"),
    ("rfc822-no-zone", "Sun, 22 Nov 2026 10:00:00", "2026-11-22T10:00:00Z"),
    ("rfc822-military-zone", "Sun, 22 Nov 2026 10:00:00 Z", "2026-11-22T10:00:00Z"),
    ("rfc822-single-digit-day", "Sun, 1 Nov 2026 10:00:00 GMT", "2026-11-01T10:00:00Z"),
    ("rfc822-lower-case", "sun, 22 nov 2026 10:00:00 gmt", "2026-11-22T10:00:00Z"),
    ("rfc822-doubled-spaces", "Sun,  22  Nov  2026  10:00:00  GMT", "2026-11-22T10:00:00Z"),
    ("us-style", "November 22, 2026 10:00:00", "2026-11-22T10:00:00Z"),
    ("w3cdtf-full", "2026-11-22T10:00:00Z", "2026-11-22T10:00:00Z"),
    ("w3cdtf-offset", "2026-11-22T12:00:00+02:00", "2026-11-22T10:00:00Z"),
    ("w3cdtf-fraction", "2026-11-22T10:00:00.123456Z", "2026-11-22T10:00:00Z"),
    ("w3cdtf-minutes", "2026-11-22T10:00Z", "2026-11-22T10:00:00Z"),
    ("w3cdtf-date-only", "2026-11-22", "2026-11-22T00:00:00Z"),
    ("w3cdtf-year-month", "2026-11", "2026-11-01T00:00:00Z"),
    ("w3cdtf-year", "2026", "2026-01-01T00:00:00Z"),
    ("iso-space", "2026-11-22 10:00:00", "2026-11-22T10:00:00Z"),
    ("iso-lowercase-t-z", "2026-11-22t10:00:00z", "2026-11-22T10:00:00Z"),
    ("unparseable", "the day after tomorrow", None),
    ("empty", "", None),
    ("impossible", "Sun, 31 Feb 2026 10:00:00 GMT", None),
]
for name, text, want in DATES:
    warnings = [] if want is not None or text == "" else ["unreadable date left unknown"]
    case(f"date-{name}", rss(rss_item(extra=f"<pubDate>{text}</pubDate>")), {"items": [item(published=want)], "warnings": warnings})
case("date-atom-updated-only", atom(atom_entry()), {"items": [item(published="2026-11-22T10:00:00Z")], "warnings": []})
case("date-future-is-unknown", rss(rss_item(extra="<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate>")),
     {"items": [item(published=None)], "warnings": []})

# --- Not feeds ------------------------------------------------------------
case(
    "not-feed-html-with-links",
    '<!DOCTYPE html><html><head><title>Blog</title><base href="/blog/">'
    '<link rel="alternate" type="application/rss+xml" href="feed.xml">'
    '<link rel="alternate" type="application/atom+xml" href="https://fixtures.example/atom.xml"></head><body>x</body></html>',
    {"error": "not a feed: an HTML page; it links 2 feeds: https://fixtures.example/blog/feed.xml, https://fixtures.example/atom.xml"},
)
case("not-feed-html-without-links", "<html><head><title>x</title></head><body><p>Hello</body></html>",
     {"error": "not a feed: an HTML page that links no feed"})
case("not-feed-xhtml", '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head/><body/></html>',
     {"error": "not a feed: an HTML page that links no feed"})
case("not-feed-empty", "", {"error": "not a feed: the body is empty"})
case("not-feed-whitespace", "   \n\t ", {"error": "not a feed: the body is empty"})
case("not-feed-svg", '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>',
     {"error": "not a feed: no RSS, Atom or JSON Feed root element (the document is <svg>)"})
case("not-feed-sitemap", '<?xml version="1.0"?><urlset><url><loc>https://x.example/</loc></url></urlset>',
     {"error": "not a feed: no RSS, Atom or JSON Feed root element (the document is <urlset>)"})
case(
    "junk-markup-after-root",
    rss(rss_item()) + "<title>after</title>" + rss_item("Item two", "https://news.example/2"),
    {"items": [item(), item("Item two", "https://news.example/2")], "warnings": ["markup after the root element read ×2"]},
)
case("not-feed-plain-text", "Service temporarily unavailable", {"error": "not a feed"})


def write():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    names = set()
    for name, ext, body, expected in CASES:
        assert name not in names, name
        names.add(name)
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        with open(os.path.join(OUT, f"{name}.{ext}"), "wb") as f:
            f.write(data)
        with open(os.path.join(OUT, f"{name}.expected.json"), "w", encoding="utf-8") as f:
            json.dump(expected, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")
    print(f"{len(CASES)} fixtures in {OUT}")


if __name__ == "__main__":
    write()
