//! `--source` and `--tag`: which sources' stories a read command shows.

use super::CliError;
use herald::config::Config;
use herald::storage::ArticleFilter;

/// `--source NAME` and `--tag TAG`, both repeatable; a story matches when
/// any of the named sources, or any source with one of the tags, carried it.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Selection {
    /// Only stories this source carried (repeatable).
    #[arg(long = "source", value_name = "NAME")]
    pub(crate) sources: Vec<String>,
    /// Only stories a source with this tag carried (repeatable, any of).
    #[arg(long = "tag", value_name = "TAG")]
    pub(crate) tags: Vec<String>,
}

impl Selection {
    /// The source names selected (empty: all), tags resolved through the
    /// config.
    pub(crate) fn source_names(&self, config: &Config) -> Result<Vec<String>, CliError> {
        let mut names = self.sources.clone();
        if !self.tags.is_empty() {
            let tagged = config
                .sources_tagged(&self.tags)
                .map_err(|why| herald::Error::Usage(format!("--tag: {why}")))?;
            for name in tagged {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        Ok(names)
    }

    /// `source=a&source=b&tag=x` (empty for everything): names the
    /// selection in feed ids, as the served feeds' query string would.
    pub(crate) fn describe(&self) -> String {
        herald::export::selection_query(&self.sources, &self.tags)
    }

    /// The filter for `limit` stories of the selection.
    pub(crate) fn filter(&self, config: &Config, limit: usize) -> Result<ArticleFilter, CliError> {
        Ok(ArticleFilter {
            limit,
            sources: self.source_names(config)?,
            since: None,
            same_story_window: config.daemon.same_story_window,
        })
    }
}
