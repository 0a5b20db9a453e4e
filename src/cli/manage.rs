//! `herald import`, `herald add` and `herald remove`: managing sources
//! without hand-writing TOML. Each edits the config file in place (its
//! comments and order kept), validates the result as `check` does, replaces
//! the file atomically, prints what changed and says how to apply it (or,
//! with `--reload`, signals the running daemon itself).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{CliError, EXIT_ALL_FAILED, Outcome, runtime};
use herald::app;
use herald::config::{Config, ConfigEditor, NewSource};
use herald::model::article::canonical_url;
use herald::sources::opml::read_opml;
use herald::storage::{Role, writer_of};

/// What every editing command shares.
#[derive(Debug, clap::Args)]
pub(crate) struct EditOptions {
    /// Show what would change and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// After writing, make the running daemon reload (SIGHUP).
    #[arg(long)]
    reload: bool,
}

/// `herald import` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// An OPML file exported by another reader.
    file: PathBuf,
    #[command(flatten)]
    edit: EditOptions,
}

/// `herald add` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct AddArgs {
    /// A feed, or a page whose feeds should be found.
    url: String,
    /// The source's name [default: the feed's title, else its host].
    #[arg(long)]
    name: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Its own cron schedule [default: the global one].
    #[arg(long)]
    schedule: Option<String>,
    /// Add every feed the page declares, not only the first.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    edit: EditOptions,
}

/// `herald remove` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// The source's name.
    name: String,
    #[command(flatten)]
    edit: EditOptions,
}

/// A name people can read and TOML can hold: control characters dropped,
/// spaces collapsed, at most 60 characters, unique among `taken`
/// (`name-2`, `name-3`, … when it is not).
fn unique_name(wanted: &str, taken: &mut HashSet<String>) -> String {
    let clean: String = wanted
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let base: String = if clean.is_empty() {
        "feed".to_owned()
    } else {
        clean.chars().take(60).collect::<String>().trim().to_owned()
    };
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// A label as a tag: no commas, no surrounding or repeated spaces.
fn tag_of(label: &str) -> Option<String> {
    let tag = label.replace(',', " ");
    let tag = tag.split_whitespace().collect::<Vec<_>>().join(" ");
    (!tag.is_empty()).then_some(tag)
}

/// Writes the edit (unless a dry run) and says how to apply it.
fn finish(
    editor: ConfigEditor,
    config: &Config,
    options: &EditOptions,
    out: &mut String,
) -> Outcome {
    if options.dry_run {
        let _ = writeln!(out, "dry run: {} was not changed", config.path.display());
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    let saved = editor.save().map_err(herald::Error::from)?;
    let _ = writeln!(
        out,
        "wrote {} ({} sources)",
        config.path.display(),
        saved.sources.len()
    );
    match config.daemon.database.sqlite_path().and_then(writer_of) {
        Some((pid, Role::Daemon)) if options.reload => {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGHUP,
            )
            .map_err(|e| {
                herald::Error::Usage(format!("cannot signal the daemon (PID {pid}): {e}"))
            })?;
            let _ = writeln!(
                out,
                "asked the daemon (PID {pid}) to reload: new sources are fetched now"
            );
        }
        Some((pid, Role::Daemon)) => {
            let _ = writeln!(
                out,
                "the daemon (PID {pid}) runs the old config: `systemctl reload herald` (or `kill -HUP {pid}`, or --reload) applies it"
            );
        }
        _ if options.reload && config.daemon.database.is_shared() => {
            let _ = writeln!(
                out,
                "{} is shared by instances this machine cannot signal: copy the config to each and `systemctl reload herald` there",
                config.daemon.database
            );
        }
        _ if options.reload => {
            let _ = writeln!(
                out,
                "no daemon holds {}: nothing to reload",
                config.daemon.database
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "a running daemon applies it on `systemctl reload herald`"
            );
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The canonical form of every URL already configured.
fn configured_urls(editor: &ConfigEditor, config: &Config) -> Vec<(String, String)> {
    let names = editor.source_names();
    config
        .sources
        .iter()
        .filter_map(|s| {
            let url = s.input.url.as_deref()?;
            let canonical = canonical_url(&url::Url::parse(url).ok()?)?;
            Some((canonical, s.name.clone()))
        })
        .filter(|(_, name)| names.contains(name))
        .collect()
}

/// `herald import FILE.opml`.
pub(crate) fn import(config: &Config, args: &ImportArgs) -> Outcome {
    let started = std::time::Instant::now();
    let body = std::fs::read(&args.file)
        .map_err(|e| herald::Error::Usage(format!("{}: cannot read: {e}", args.file.display())))?;
    let feeds = read_opml(&body).map_err(|e| {
        herald::Error::Usage(format!(
            "{}: {e}; nothing was imported",
            args.file.display()
        ))
    })?;
    let mut editor = ConfigEditor::open(&config.path).map_err(herald::Error::from)?;
    let mut known = configured_urls(&editor, config);
    let mut taken: HashSet<String> = editor.source_names().into_iter().collect();
    let mut added: Vec<NewSource> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for feed in &feeds {
        let url = match url::Url::parse(&feed.xml_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(url) => {
                skipped.push(format!(
                    "line {}: {} (scheme {:?}, not http or https)",
                    feed.line,
                    feed.xml_url,
                    url.scheme()
                ));
                continue;
            }
            Err(e) => {
                skipped.push(format!(
                    "line {}: {:?} is not a URL ({e})",
                    feed.line, feed.xml_url
                ));
                continue;
            }
        };
        let canonical = canonical_url(&url).unwrap_or_else(|| url.to_string());
        if let Some((_, name)) = known.iter().find(|(known, _)| *known == canonical) {
            skipped.push(format!(
                "line {}: {url} is already configured as {name:?}",
                feed.line
            ));
            continue;
        }
        let host = url
            .host_str()
            .unwrap_or("feed")
            .trim_start_matches("www.")
            .to_owned();
        let name = unique_name(feed.title.as_deref().unwrap_or(&host), &mut taken);
        let mut tags: Vec<String> = Vec::new();
        for tag in feed.labels.iter().filter_map(|l| tag_of(l)) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        known.push((canonical, name.clone()));
        added.push(NewSource {
            name,
            kind: "feed".to_owned(),
            url: url.to_string(),
            tags,
            schedule: None,
        });
    }
    for source in &added {
        editor.add_source(source);
    }
    let mut out = format!(
        "{}: {} feed(s) found, {} added, {} skipped ({} ms)\n",
        args.file.display(),
        feeds.len(),
        added.len(),
        skipped.len(),
        started.elapsed().as_millis()
    );
    for source in &added {
        let tags = if source.tags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", source.tags.join(", "))
        };
        let _ = writeln!(out, "  + {}  {}{tags}", source.name, source.url);
    }
    for why in &skipped {
        let _ = writeln!(out, "  = skipped {why}");
    }
    if added.is_empty() {
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    finish(editor, config, &args.edit, &mut out)
}

/// `herald add URL`.
pub(crate) fn add(config: &Config, args: &AddArgs) -> Outcome {
    let url = match url::Url::parse(&args.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ if !args.url.contains("://") => url::Url::parse(&format!("https://{}", args.url))
            .map_err(|e| herald::Error::Usage(format!("{:?} is not a URL ({e})", args.url)))?,
        _ => {
            return Err(herald::Error::Usage(format!(
                "{:?} is not an http or https URL",
                args.url
            ))
            .into());
        }
    };
    let discovery = runtime()?.block_on(app::discover(config, url.clone()))?;
    let mut out = String::new();
    if discovery.feeds.is_empty() {
        let mut message = format!("no feed found at {url}; tried:\n");
        for (tried, why) in &discovery.tried {
            let _ = writeln!(message, "  {tried}: {why}");
        }
        eprint!("{message}");
        return Ok(ExitCode::from(EXIT_ALL_FAILED));
    }
    if discovery.was_page {
        let _ = writeln!(out, "{url} is a page; the feeds it leads to:");
        for feed in &discovery.feeds {
            let _ = writeln!(out, "  {}  {}", feed.url, what(feed));
        }
    }
    let mut editor = ConfigEditor::open(&config.path).map_err(herald::Error::from)?;
    let known = configured_urls(&editor, config);
    let mut taken: HashSet<String> = editor.source_names().into_iter().collect();
    if let Some(name) = &args.name
        && taken.contains(name)
    {
        return Err(herald::Error::Usage(format!("a source is already named {name:?}")).into());
    }
    let chosen: Vec<&app::FoundFeed> = if args.all {
        discovery.feeds.iter().collect()
    } else {
        discovery.feeds.iter().take(1).collect()
    };
    let mut added = 0;
    for (index, feed) in chosen.into_iter().enumerate() {
        let canonical = canonical_url(&feed.url).unwrap_or_else(|| feed.url.to_string());
        if let Some((_, name)) = known.iter().find(|(k, _)| *k == canonical) {
            let _ = writeln!(out, "  = {} is already configured as {name:?}", feed.url);
            continue;
        }
        let wanted = match (&args.name, index) {
            (Some(name), 0) => name.clone(),
            (Some(name), n) => format!("{name}-{}", n + 1),
            (None, _) => feed
                .title
                .clone()
                .unwrap_or_else(|| feed.url.host_str().unwrap_or("feed").to_owned()),
        };
        let name = unique_name(&wanted, &mut taken);
        let tags: Vec<String> = args.tags.iter().filter_map(|t| tag_of(t)).collect();
        editor.add_source(&NewSource {
            name: name.clone(),
            kind: "feed".to_owned(),
            url: feed.url.to_string(),
            tags,
            schedule: args.schedule.clone(),
        });
        added += 1;
        let _ = writeln!(out, "  + {name}  {}  ({})", feed.url, what(feed));
    }
    if !args.all && discovery.feeds.len() > 1 {
        let _ = writeln!(
            out,
            "  ({} more: --all adds every one)",
            discovery.feeds.len() - 1
        );
    }
    if added == 0 {
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    finish(editor, config, &args.edit, &mut out)
}

/// `"Title", 4 item(s)`: what a found feed is.
fn what(feed: &app::FoundFeed) -> String {
    format!(
        "{:?}, {} item(s)",
        feed.title.as_deref().unwrap_or("untitled"),
        feed.items
    )
}

/// `herald remove NAME`.
pub(crate) fn remove(config: &Config, args: &RemoveArgs) -> Outcome {
    let mut editor = ConfigEditor::open(&config.path).map_err(herald::Error::from)?;
    if !editor.remove_source(&args.name) {
        let names = editor.source_names();
        return Err(CliError::Herald(herald::Error::Usage(format!(
            "no source is named {:?} in {}; the sources are: {}",
            args.name,
            config.path.display(),
            names.join(", ")
        ))));
    }
    let mut out = format!(
        "  - {}  (its articles stay in the database; `herald prune` drops them once no source serves them within keep)\n",
        args.name
    );
    finish(editor, config, &args.edit, &mut out)
}
