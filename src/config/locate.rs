//! Where a key sits in the config text, so that every problem names its line.

use std::cell::OnceCell;
use std::ops::Range;

/// Finds the line of a key in the original text, for messages. The text is
/// parsed for spans only when a problem needs locating: a valid config with
/// thousands of sources should not pay for it.
pub(super) struct Locator<'a> {
    doc: OnceCell<Option<toml_edit::Document<String>>>,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Locator {
            doc: OnceCell::new(),
            text,
        }
    }

    fn doc(&self) -> Option<&toml_edit::Document<String>> {
        self.doc
            .get_or_init(|| toml_edit::Document::parse(self.text.to_owned()).ok())
            .as_ref()
    }

    fn line_of(&self, span: Option<Range<usize>>) -> Option<usize> {
        let start = span?.start;
        Some(self.text.get(..start)?.matches('\n').count() + 1)
    }

    /// Line of `section.key` (or of the section when the key is absent).
    pub(super) fn table_key(&self, section: &str, key: &str) -> Option<usize> {
        let table = self.doc()?.get(section)?.as_table()?;
        match table.key(key) {
            Some(k) => self.line_of(k.span()),
            None => self.line_of(table.span()),
        }
    }

    /// Line of `section.key` when the file sets it; `None` when it does not.
    pub(super) fn set_in_file(&self, section: &str, key: &str) -> Option<usize> {
        let table = self.doc()?.get(section)?.as_table()?;
        self.line_of(table.key(key)?.span())
    }

    /// Every `[[sources]]` entry as written, in file order: each key, its
    /// value as TOML text (comments and spacing dropped) and its line.
    pub(super) fn sources(&self) -> Vec<Vec<(String, String, Option<usize>)>> {
        self.entries("sources")
    }

    /// Every `[[array]]` entry as written, as [`Locator::sources`] does.
    pub(super) fn entries(&self, array: &str) -> Vec<Vec<(String, String, Option<usize>)>> {
        let Some(sources) = self.doc().and_then(|d| d.get(array)?.as_array_of_tables()) else {
            return Vec::new();
        };
        sources
            .iter()
            .map(|table| {
                table
                    .iter()
                    .map(|(key, item)| {
                        let line = table.key(key).and_then(|k| self.line_of(k.span()));
                        let text = match item.as_value() {
                            Some(value) => {
                                let mut value = value.clone();
                                value.decor_mut().clear();
                                value.to_string()
                            }
                            None => item.to_string().trim().to_owned(),
                        };
                        (key.to_owned(), text, line)
                    })
                    .collect()
            })
            .collect()
    }

    /// Line of `key` in the `index`th `[[sources]]` (or of its header).
    pub(super) fn source_key(&self, index: usize, key: &str) -> Option<usize> {
        self.array_key("sources", index, key)
    }

    /// Line of `key` in the `index`th `[[array]]` entry (or of its header).
    pub(super) fn array_key(&self, array: &str, index: usize, key: &str) -> Option<usize> {
        let sources = self.doc()?.get(array)?.as_array_of_tables()?;
        let table = sources.get(index)?;
        match table.key(key) {
            Some(k) => self.line_of(k.span()),
            None => self.line_of(table.span()),
        }
    }
}
