//! Unix signals become [`Control`] messages, in one place.
//!
//! signal-hook-tokio turns SIGTERM, SIGINT, SIGHUP and SIGUSR1 into a stream; this
//! module maps them to what they mean for herald and hands them to the
//! supervisor, which alone decides what to do (a second `Shutdown` during a
//! drain means "quit now").

use futures::StreamExt;
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_tokio::{Handle, Signals};
use tokio::sync::mpsc;
use tracing::info;

use super::supervisor::Control;

/// Listens for SIGTERM, SIGINT (both [`Control::Shutdown`]), SIGHUP
/// ([`Control::Reload`]) and SIGUSR1 ([`Control::RunNow`]) until the
/// returned [`Handle`] is closed.
///
/// # Errors
/// The signal handlers could not be installed.
pub fn listen() -> std::io::Result<(Handle, mpsc::Receiver<Control>)> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])?;
    let handle = signals.handle();
    let (sender, receiver) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(signal) = signals.next().await {
            let (name, control) = match signal {
                SIGHUP => ("SIGHUP", Control::Reload),
                SIGUSR1 => ("SIGUSR1", Control::RunNow),
                SIGINT => ("SIGINT", Control::Shutdown),
                _ => ("SIGTERM", Control::Shutdown),
            };
            info!(signal = name, "signal received");
            if sender.send(control).await.is_err() {
                break;
            }
        }
    });
    Ok((handle, receiver))
}
