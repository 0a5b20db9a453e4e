//! `herald run` as systemd runs it, for the tests: the real binary, its
//! sd_notify messages on a socket the test listens to (readiness and round
//! completion are read from them, never guessed with a sleep), its log.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::net::UnixDatagram;
use tokio::process::Child;

use super::TestEnv;

/// Upper bound for anything a test waits on.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct Daemon {
    child: Child,
    notify: UnixDatagram,
    stderr: PathBuf,
    /// Every sd_notify line received so far.
    messages: Vec<String>,
}

impl Daemon {
    /// `herald run` on the env's config.
    pub async fn start(env: &TestEnv) -> Daemon {
        Daemon::start_as(env, &env.config, "").await
    }

    /// `herald run` on `config`; `tag` keeps several instances' sockets
    /// and logs apart in one folder.
    pub async fn start_as(env: &TestEnv, config: &Path, tag: &str) -> Daemon {
        let socket = env.dir.path().join(format!("notify{tag}.sock"));
        let notify = UnixDatagram::bind(&socket).expect("bind notify socket");
        let stderr = env.dir.path().join(format!("stderr{tag}.log"));
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("NOTIFY_SOCKET", &socket)
            .env("HERALD_LOG", "info")
            .env_remove("HERALD_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .kill_on_drop(true);
        let child = command.spawn().expect("spawn herald run");
        let mut daemon = Daemon {
            child,
            notify,
            stderr,
            messages: Vec::new(),
        };
        daemon.wait_message(|m| m == "READY=1").await;
        daemon
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id().expect("running") as i32)
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("send signal");
    }

    /// Waits for an sd_notify line matching `want`; returns it.
    pub async fn wait_message(&mut self, want: impl Fn(&str) -> bool) -> String {
        self.wait_messages(&want, 1).await;
        self.messages
            .iter()
            .find(|m| want(m))
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `count` sd_notify lines matching `want` have arrived.
    pub async fn wait_messages(&mut self, want: impl Fn(&str) -> bool, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = vec![0u8; 4096];
        while self.messages.iter().filter(|m| want(m)).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, self.notify.recv(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no matching sd_notify message; got {:?}\nstderr:\n{}",
                        self.messages,
                        self.log()
                    )
                })
                .expect("read notify socket");
            self.messages.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            );
        }
    }

    /// Every sd_notify line sent so far, including ones not yet read.
    pub fn all_messages(&mut self) -> &[String] {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.notify.try_recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.messages.extend(text.lines().map(str::to_owned));
        }
        &self.messages
    }

    /// Waits until `n` rounds have reported their summary.
    pub async fn wait_rounds(&mut self, n: usize) {
        self.wait_message(|m| m.starts_with(&format!("STATUS=last round {n}:")))
            .await;
    }

    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "herald did not exit within {within:?}\nstderr:\n{}",
                    self.log()
                )
            })
            .expect("wait for herald")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Polls `condition` (a database query, a hit counter) until it holds.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
