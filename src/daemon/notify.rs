//! Telling systemd what the daemon is doing (`Type=notify`): ready,
//! reloading, stopping, the last round's summary, watchdog pings. Without
//! `NOTIFY_SOCKET` every call is a no-op.

use sd_notify::NotifyState;
use tracing::warn;

/// Sends `states` to systemd when it listens.
pub(crate) fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!(error = %e, "cannot notify systemd");
    }
}

/// `READY=1` with a status line.
pub(crate) fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=...`.
pub(crate) fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// `RELOADING=1` with the monotonic timestamp systemd asks for.
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// `READY=1` after a reload.
pub(crate) fn reloaded() {
    notify(&[NotifyState::Ready]);
}

/// `STOPPING=1`.
pub(crate) fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// `WATCHDOG=1`.
pub(crate) fn watchdog() {
    notify(&[NotifyState::Watchdog]);
}

/// Half the watchdog period systemd set, when it set one.
pub(crate) fn watchdog_interval() -> Option<std::time::Duration> {
    sd_notify::watchdog_enabled().map(|period| period / 2)
}
