//! The daemon (`herald run`): the supervisor and what it watches and feeds.
//!
//! [`supervisor`] owns the running state and reacts to [`supervisor::Control`]
//! messages (from [`signals`], or from a test), cron ticks ([`scheduler`]) and
//! finished rounds; [`reload`] computes what a new config changes; [`notify`]
//! speaks systemd's protocol; [`metrics`] serves `/metrics` and `/healthz`;
//! [`alerts`] POSTs source state changes. Metrics and alerts watch from the
//! side: neither can delay a round.

pub(crate) mod alerts;
pub(crate) mod feeds;
pub(crate) mod keywords;
pub(crate) mod metrics;
pub(crate) mod notify;
pub mod reload;
pub(crate) mod scheduler;
pub mod signals;
pub mod supervisor;
