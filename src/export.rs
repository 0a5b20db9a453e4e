//! The aggregate as a feed any reader can subscribe to: Atom 1.0 or JSON
//! Feed 1.1. Text is escaped here, in one place; titles and summaries are
//! already plain text in the database.

use serde_json::json;

use crate::storage::StoredArticle;

/// Escapes text for XML content and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids even escaped (stored text never has
            // them; this is the second line of defence).
            c if !matches!(c, '\t' | '\n' | '\r') && !crate::model::article::is_text_char(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// What a feed document says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedMeta {
    /// `herald`, or `herald: a, #tech` for a selection.
    pub title: String,
    /// Differs per selection, so a reader keeps two subscriptions apart.
    pub id: String,
    /// Where the document is served (`rel="self"`, JSON Feed `feed_url`).
    pub self_url: Option<String>,
    /// The server's front page (`rel="alternate"`, `home_page_url`).
    pub home_url: Option<String>,
}

impl FeedMeta {
    /// A document printed by `herald export` (no address of its own).
    pub fn exported(title: &str, selection: &str) -> FeedMeta {
        FeedMeta {
            title: title.to_owned(),
            id: feed_id(selection),
            self_url: None,
            home_url: None,
        }
    }
}

/// `urn:herald:feed:all`, or one naming the selection (`source=a&tag=x`).
pub fn feed_id(selection: &str) -> String {
    if selection.is_empty() {
        "urn:herald:feed:all".to_owned()
    } else {
        format!("urn:herald:feed:{selection}")
    }
}

/// `source=a&tag=x`, form-encoded, sources then tags, each sorted.
pub fn selection_query(sources: &[String], tags: &[String]) -> String {
    let mut sources = sources.to_vec();
    let mut tags = tags.to_vec();
    sources.sort();
    tags.sort();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for source in &sources {
        query.append_pair("source", source);
    }
    for tag in &tags {
        query.append_pair("tag", tag);
    }
    query.finish()
}

/// `herald`, or `herald: a, b, #tech` naming a selection's sources and tags.
pub fn selection_title(sources: &[String], tags: &[String]) -> String {
    let named: Vec<String> = sources
        .iter()
        .cloned()
        .chain(tags.iter().map(|t| format!("#{t}")))
        .collect();
    if named.is_empty() {
        "herald".to_owned()
    } else {
        format!("herald: {}", named.join(", "))
    }
}

/// An Atom 1.0 document; `updated` is the newest fetch time (ISO-8601).
/// An entry's `updated` is its publication time, else when herald first
/// stored it; `published` appears only when the source gave a date.
pub fn atom(articles: &[StoredArticle], meta: &FeedMeta, updated: &str) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  <title>{}</title>\n  <id>{}</id>\n  <updated>{}</updated>\n  <generator version=\"{}\">herald</generator>\n",
        xml_escape(&meta.title),
        xml_escape(&meta.id),
        xml_escape(updated),
        env!("CARGO_PKG_VERSION"),
    );
    if let Some(url) = &meta.self_url {
        xml.push_str(&format!(
            "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
            xml_escape(url)
        ));
    }
    if let Some(url) = &meta.home_url {
        xml.push_str(&format!(
            "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            xml_escape(url)
        ));
    }
    for a in articles {
        let when = a.published_at.as_deref().unwrap_or(&a.fetched_at);
        xml.push_str("  <entry>\n");
        xml.push_str(&format!("    <title>{}</title>\n", xml_escape(&a.title)));
        xml.push_str(&format!(
            "    <link rel=\"alternate\" href=\"{}\"/>\n",
            xml_escape(&a.url)
        ));
        xml.push_str(&format!("    <id>{}</id>\n", xml_escape(&a.url)));
        xml.push_str(&format!("    <updated>{}</updated>\n", xml_escape(when)));
        if let Some(published) = &a.published_at {
            xml.push_str(&format!(
                "    <published>{}</published>\n",
                xml_escape(published)
            ));
        }
        let author = a.author.as_deref().unwrap_or(&a.source);
        xml.push_str(&format!(
            "    <author><name>{}</name></author>\n",
            xml_escape(author)
        ));
        let carriers = if a.sources.is_empty() {
            std::slice::from_ref(&a.source)
        } else {
            a.sources.as_slice()
        };
        for source in carriers {
            xml.push_str(&format!(
                "    <category term=\"{}\"/>\n",
                xml_escape(source)
            ));
        }
        for category in &a.categories {
            xml.push_str(&format!(
                "    <category term=\"{}\"/>\n",
                xml_escape(category)
            ));
        }
        if let Some(enclosure) = &a.enclosure {
            xml.push_str(&format!(
                "    <link rel=\"enclosure\" href=\"{}\"",
                xml_escape(&enclosure.url)
            ));
            if let Some(mime) = &enclosure.mime_type {
                xml.push_str(&format!(" type=\"{}\"", xml_escape(mime)));
            }
            if let Some(length) = enclosure.length {
                xml.push_str(&format!(" length=\"{length}\""));
            }
            xml.push_str("/>\n");
        }
        if let Some(summary) = &a.summary {
            xml.push_str(&format!("    <summary>{}</summary>\n", xml_escape(summary)));
        }
        xml.push_str("  </entry>\n");
    }
    xml.push_str("</feed>\n");
    xml
}

/// A JSON Feed 1.1 document. An item without a publication date has no
/// `date_published` (when herald stored it is not when it was published).
pub fn json_feed(articles: &[StoredArticle], meta: &FeedMeta) -> serde_json::Value {
    let items: Vec<serde_json::Value> = articles
        .iter()
        .map(|a| {
            let carriers = if a.sources.is_empty() {
                std::slice::from_ref(&a.source)
            } else {
                a.sources.as_slice()
            };
            let mut item = json!({
                "id": a.url,
                "url": a.url,
                "title": a.title,
                "tags": carriers.iter().chain(&a.categories).collect::<Vec<_>>(),
            });
            if let Some(published) = &a.published_at {
                item["date_published"] = json!(published);
            }
            if let Some(summary) = &a.summary {
                item["summary"] = json!(summary);
                item["content_text"] = json!(summary);
            } else {
                item["content_text"] = json!(a.title);
            }
            if let Some(author) = &a.author {
                item["authors"] = json!([{ "name": author }]);
            }
            if let Some(enclosure) = &a.enclosure {
                let mut attachment = json!({ "url": enclosure.url });
                if let Some(mime) = &enclosure.mime_type {
                    attachment["mime_type"] = json!(mime);
                }
                if let Some(length) = enclosure.length {
                    attachment["size_in_bytes"] = json!(length);
                }
                item["attachments"] = json!([attachment]);
            }
            item
        })
        .collect();
    let mut feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": meta.title,
        "items": items,
    });
    if let Some(url) = &meta.home_url {
        feed["home_page_url"] = json!(url);
    }
    if let Some(url) = &meta.self_url {
        feed["feed_url"] = json!(url);
    }
    feed
}

/// One subscription in an OPML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    /// What a reader shows (`text` and `title`).
    pub text: String,
    /// The feed's address.
    pub xml_url: String,
    /// The site's address, when known.
    pub html_url: Option<String>,
    /// Tags: the first one groups the outline, all go in `category`.
    pub tags: Vec<String>,
}

/// An OPML 2.0 subscription list, outlines grouped by their first tag
/// (ungrouped ones at the top level), the shape every feed reader imports.
pub fn opml(title: &str, outlines: &[Outline]) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        xml_escape(title)
    );
    let line = |o: &Outline, indent: &str| {
        let mut line = format!(
            "{indent}<outline type=\"rss\" text=\"{0}\" title=\"{0}\" xmlUrl=\"{1}\"",
            xml_escape(&o.text),
            xml_escape(&o.xml_url)
        );
        if let Some(html) = &o.html_url {
            line.push_str(&format!(" htmlUrl=\"{}\"", xml_escape(html)));
        }
        if !o.tags.is_empty() {
            line.push_str(&format!(" category=\"{}\"", xml_escape(&o.tags.join(","))));
        }
        line.push_str("/>\n");
        line
    };
    let mut groups: Vec<(&str, Vec<&Outline>)> = Vec::new();
    for outline in outlines {
        match outline.tags.first() {
            None => xml.push_str(&line(outline, "    ")),
            Some(tag) => match groups.iter_mut().find(|(name, _)| name == tag) {
                Some((_, members)) => members.push(outline),
                None => groups.push((tag.as_str(), vec![outline])),
            },
        }
    }
    for (tag, members) in groups {
        xml.push_str(&format!(
            "    <outline text=\"{0}\" title=\"{0}\">\n",
            xml_escape(tag)
        ));
        for outline in members {
            xml.push_str(&line(outline, "      "));
        }
        xml.push_str("    </outline>\n");
    }
    xml.push_str("  </body>\n</opml>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            xml_escape("a < b & \"c\" 'd' >\u{1}"),
            "a &lt; b &amp; &quot;c&quot; &apos;d&apos; &gt;"
        );
    }
}
