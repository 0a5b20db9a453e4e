//! Editing the config file in place (`herald import`, `add`, `remove`).
//!
//! The operator's file is theirs: comments, order, blank lines and
//! formatting survive (`toml_edit` edits the document, not a re-serialisation
//! of it). A change is validated exactly as `check` validates before it is
//! written, so a command can never leave a config the daemon would refuse;
//! the new text goes to a temporary file in the same folder, is flushed to
//! disk and renamed over the old one, so a reload that races the edit reads
//! the old file or the new one, never half of each. If the file changed
//! since it was read (an editor, another command), nothing is written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::{Config, ConfigError, load_from_str};

/// A `[[sources]]` block to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    /// Unique name.
    pub name: String,
    /// `feed`, for everything these commands add.
    pub kind: String,
    /// The feed's address.
    pub url: String,
    /// Labels.
    pub tags: Vec<String>,
    /// Its own cron expression, when given.
    pub schedule: Option<String>,
}

/// The config file, read and open for editing.
#[derive(Debug)]
pub struct ConfigEditor {
    path: PathBuf,
    original: String,
    document: DocumentMut,
}

impl ConfigEditor {
    /// Reads `path` for editing.
    ///
    /// # Errors
    /// The file cannot be read or is not TOML.
    pub fn open(path: &Path) -> Result<ConfigEditor, ConfigError> {
        let original = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let document = original
            .parse::<DocumentMut>()
            .map_err(|e| ConfigError::Syntax {
                path: path.to_path_buf(),
                message: e.to_string().trim_end().to_owned(),
            })?;
        Ok(ConfigEditor {
            path: path.to_path_buf(),
            original,
            document,
        })
    }

    /// The names of the `[[sources]]` blocks, in file order.
    pub fn source_names(&self) -> Vec<String> {
        self.sources_key("name")
    }

    /// The `url` of every `[[sources]]` block that has one.
    pub fn source_urls(&self) -> Vec<String> {
        self.sources_key("url")
    }

    fn sources_key(&self, key: &str) -> Vec<String> {
        self.document
            .get("sources")
            .and_then(Item::as_array_of_tables)
            .map(|sources| {
                sources
                    .iter()
                    .filter_map(|t| t.get(key)?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Appends a `[[sources]]` block after the last one.
    pub fn add_source(&mut self, source: &NewSource) {
        let mut table = Table::new();
        table.insert("name", value(source.name.as_str()));
        table.insert("kind", value(source.kind.as_str()));
        table.insert("url", value(source.url.as_str()));
        if !source.tags.is_empty() {
            let tags: Array = source.tags.iter().map(String::as_str).collect();
            table.insert("tags", value(tags));
        }
        if let Some(schedule) = &source.schedule {
            table.insert("schedule", value(schedule.as_str()));
        }
        if let Some(Item::ArrayOfTables(sources)) = self.document.get_mut("sources") {
            sources.push(table);
        } else {
            let mut sources = ArrayOfTables::new();
            sources.push(table);
            self.document
                .insert("sources", Item::ArrayOfTables(sources));
        }
    }

    /// Removes the `[[sources]]` block named `name`; false when there is none.
    pub fn remove_source(&mut self, name: &str) -> bool {
        let Some(Item::ArrayOfTables(sources)) = self.document.get_mut("sources") else {
            return false;
        };
        let Some(index) = sources
            .iter()
            .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        else {
            return false;
        };
        sources.remove(index);
        true
    }

    /// The text the file would hold.
    pub fn text(&self) -> String {
        self.document.to_string()
    }

    /// Validates the edited text as `check` would and, when it passes,
    /// replaces the file atomically. Returns the config it now holds.
    ///
    /// # Errors
    /// The edit makes the config invalid (nothing is written), the file
    /// changed since it was read, or it cannot be written.
    pub fn save(self) -> Result<Config, ConfigError> {
        let text = self.text();
        let config = load_from_str(&self.path, &text)?;
        let io = |source: std::io::Error| ConfigError::Read {
            path: self.path.clone(),
            source,
        };
        let current = std::fs::read_to_string(&self.path).map_err(io)?;
        if current != self.original {
            return Err(ConfigError::Syntax {
                path: self.path.clone(),
                message: "the file changed while herald was editing it; nothing was written, run the command again".to_owned(),
            });
        }
        let folder = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let mut temporary = tempfile::Builder::new()
            .prefix(".herald.toml.")
            .tempfile_in(folder)
            .map_err(io)?;
        // The new file keeps the old one's permissions (an API key may be
        // inline: a 0600 file must stay 0600).
        let permissions = std::fs::metadata(&self.path).map_err(io)?.permissions();
        temporary.write_all(text.as_bytes()).map_err(io)?;
        temporary.as_file().sync_all().map_err(io)?;
        std::fs::set_permissions(temporary.path(), permissions).map_err(io)?;
        temporary.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_order_survive_an_add_and_a_remove() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("herald.toml");
        let original = "# my sources\n[daemon]\nworkers = 4 # small box\n\n[[sources]]\nname = \"a\" # the first\nkind = \"feed\"\nurl = \"https://a.example/feed\"\n";
        std::fs::write(&path, original).expect("write");
        let mut editor = ConfigEditor::open(&path).expect("open");
        editor.add_source(&NewSource {
            name: "b".into(),
            kind: "feed".into(),
            url: "https://b.example/rss".into(),
            tags: vec!["tech".into()],
            schedule: None,
        });
        let config = editor.save().expect("valid");
        assert_eq!(config.sources.len(), 2);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(original), "{text}");
        assert!(text.ends_with("[[sources]]\nname = \"b\"\nkind = \"feed\"\nurl = \"https://b.example/rss\"\ntags = [\"tech\"]\n"), "{text}");

        let mut editor = ConfigEditor::open(&path).expect("open");
        assert!(editor.remove_source("b"));
        assert!(!editor.remove_source("nope"));
        editor.save().expect("valid");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), original);
    }

    #[test]
    fn an_edit_that_breaks_the_config_writes_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("herald.toml");
        std::fs::write(&path, "[daemon]\n").expect("write");
        let mut editor = ConfigEditor::open(&path).expect("open");
        editor.add_source(&NewSource {
            name: "bad".into(),
            kind: "feed".into(),
            url: "not a url".into(),
            tags: Vec::new(),
            schedule: None,
        });
        assert!(editor.save().is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "[daemon]\n");
    }
}
