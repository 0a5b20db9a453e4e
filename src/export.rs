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

/// An Atom 1.0 document; `updated` is the newest fetch time (ISO-8601).
pub fn atom(articles: &[StoredArticle], title: &str, updated: &str) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  <title>{}</title>\n  <id>urn:herald:aggregate</id>\n  <updated>{}</updated>\n  <generator version=\"{}\">herald</generator>\n",
        xml_escape(title),
        xml_escape(updated),
        env!("CARGO_PKG_VERSION"),
    );
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
        xml.push_str(&format!(
            "    <category term=\"{}\"/>\n",
            xml_escape(&a.source)
        ));
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

/// A JSON Feed 1.1 document.
pub fn json_feed(articles: &[StoredArticle], title: &str) -> serde_json::Value {
    let items: Vec<serde_json::Value> = articles
        .iter()
        .map(|a| {
            let mut item = json!({
                "id": a.url,
                "url": a.url,
                "title": a.title,
                "date_published": a.published_at.as_deref().unwrap_or(&a.fetched_at),
                "tags": std::iter::once(&a.source).chain(&a.categories).collect::<Vec<_>>(),
            });
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
    json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "items": items,
    })
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
