//! The vocabulary every layer shares: plain data and pure functions, no I/O.
//!
//! `model` is the leaf of the crate: it imports nothing else from herald, so
//! sources, the fetcher, storage and the engine can all speak it without
//! knowing each other. What lives here: what a source asks for
//! ([`http::FetchRequest`]) and gets back ([`http::Payload`]), what it
//! produces ([`article::ItemDraft`], [`article::Article`]), what a fetch
//! ended as ([`outcome::FetchOutcome`]) and what earlier fetches taught us
//! ([`outcome::SourceMemory`]), a configured source ([`source::SourceSpec`])
//! with its [`schedule::Schedule`] and [`rate_limit::RateLimit`], and the
//! secrets that must never be printed ([`secret`]).

pub mod article;
pub mod filter;
pub mod hash;
pub mod http;
pub mod keys;
pub mod notify;
pub mod outcome;
pub mod rate_limit;
pub mod retention;
pub mod schedule;
pub mod secret;
pub mod source;
