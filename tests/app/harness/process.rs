//! The `landing` binary as a process: run once with a clean environment, or kept running so a
//! test can kill it with SIGKILL and start it again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::base_env;

/// A port free now, for a server that must be told its port before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with a clean environment, run from an empty folder so no `.env.local` is read.
pub fn landing(env: &[(String, String)], dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_landing"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .envs(env.iter().cloned())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The binary's test configuration (in-memory SQLite, port 0, info logs) with `overrides` on top.
pub fn env_with(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = base_env("sqlite::memory:", "http://127.0.0.1:3000");
    env.insert("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into());
    env.insert("RUST_LOG".into(), "info".into());
    for (k, v) in overrides {
        env.insert((*k).into(), (*v).into());
    }
    env.into_iter().collect()
}

/// The `landing` binary as a process, so a test can SIGKILL it; its output is kept.
pub struct ServerProcess {
    child: Option<tokio::process::Child>,
    env: Vec<(String, String)>,
    dir: PathBuf,
    pub port: u16,
    pub output: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts the binary on `port` with exactly `env` (plus PATH), from `dir`, and waits until it
    /// answers.
    pub async fn start(env: Vec<(String, String)>, dir: &Path, port: u16) -> ServerProcess {
        let mut process = ServerProcess {
            child: None,
            env,
            dir: dir.to_path_buf(),
            port,
            output: Arc::default(),
        };
        process.spawn().await;
        process
    }

    async fn spawn(&mut self) {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_landing"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().cloned())
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", self.port))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the landing binary");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            let output = self.output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut out = output.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        self.child = Some(child);
        let url = format!("{}/healthz", self.base());
        for _ in 0..300 {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the landing binary did not answer:\n{}",
            self.output.lock().unwrap()
        );
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The most memory the process has held resident so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().and_then(|c| c.id()).expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// SIGKILL: no shutdown, no flush, connections cut mid-request.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Starts it again on the same port, database and configuration.
    pub async fn restart(&mut self) {
        self.spawn().await;
    }

    /// SIGTERM, and waits for a clean stop: how it exited (`None` if still running after 15 s).
    pub async fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .ok()?
            .ok()
    }
}

/// A running `landing` binary, its address, and its output lines still to read.
pub struct Running {
    child: tokio::process::Child,
    pub lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pub addr: String,
}

/// Starts the binary and waits for the line saying where it listens.
pub async fn start_binary(env: &[(String, String)], dir: &Path) -> Running {
    let mut child = landing(env, dir).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("the binary exited before listening");
    })
    .await
    .expect("the binary listens within 30 s");
    Running { child, lines, addr }
}

impl Running {
    /// SIGTERM, then everything it printed after start-up; asserts a clean exit.
    pub async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("stops within 10 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
        let mut rest = String::new();
        while let Some(line) = self.lines.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        if let Some(mut stderr) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            stderr.read_to_string(&mut rest).await.unwrap();
        }
        rest
    }
}
