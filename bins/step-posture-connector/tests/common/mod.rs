//! What the tests that run the real binary share: its path, the test webhook, a deployment
//! directory with demo certificates, and starting a server whose log is read as it comes.
// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use step_posture_connector::pki::generate_demo_pki;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_step-posture-connector");
pub(crate) const WEBHOOK_ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";
pub(crate) const SECRET: &str =
    "MGdRmSlKVbaI+FXGAX30N8l0wK5vPyYvc75wW9+zx2bxnCrGclN2/+b3tdOEEZM1sGIv6f8L4OQc1N4NBvqDEQ==";

/// Writes a fresh demo PKI (`ca.pem`, `server.pem`, `server.key`) and the example
/// `devices.json` into `dir`; returns the CA certificate's path.
pub(crate) fn write_deployment(dir: &Path) -> PathBuf {
    let pki = generate_demo_pki().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    write("server.pem", &pki.cert_pem);
    write("server.key", &pki.key_pem);
    write(
        "devices.json",
        include_str!("../../../../examples/devices.json"),
    );
    write("ca.pem", &pki.ca_pem)
}

/// The variables of a server on loopback (any free port) that serves the files of
/// [`write_deployment`] with the test webhook.
pub(crate) fn file_server_env() -> [(&'static str, &'static str); 9] {
    [
        ("PROVIDER", "file"),
        ("FILE_PATH", "devices.json"),
        ("FILE_TYPE", "json"),
        ("TLS_CERT_PATH", "server.pem"),
        ("TLS_KEY_PATH", "server.key"),
        ("WEBHOOK_IDS", WEBHOOK_ID),
        ("WEBHOOK_SECRETS", SECRET),
        ("BIND_ADDRESS", "127.0.0.1"),
        ("PORT", "0"),
    ]
}

/// Fails naming the first of `needles` that `text` (output, a log) lacks.
#[track_caller]
pub(crate) fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

/// Reads `pipe` to its end on a thread of its own, so that the child never blocks on a full
/// pipe, and sends what `pick` finds in a line, for every line it finds something in.
pub(crate) fn watch_lines<T: Send + 'static>(
    pipe: impl Read + Send + 'static,
    pick: impl Fn(&str) -> Option<T> + Send + 'static,
) -> mpsc::Receiver<T> {
    let (found, picked) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(value) = pick(&line) {
                let _ = found.send(value);
            }
        }
    });
    picked
}

/// A server started by [`start_server`].
pub(crate) struct Started {
    pub(crate) child: Child,
    /// The `host:port` it listens on.
    pub(crate) addr: String,
    /// Ends when the server closes stderr, with every line it wrote there.
    pub(crate) log: JoinHandle<Vec<String>>,
}

/// Spawns `command` with stdout discarded and stderr piped, for the caller to read.
pub(crate) fn spawn_with_stderr(command: &mut Command) -> (Child, ChildStderr) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    (child, stderr)
}

/// Spawns `command` (stdout discarded) and waits up to 30 s for its `listening on https://`
/// line. Its stderr is read to the end, so the server never blocks on a full pipe.
pub(crate) fn start_server(command: &mut Command) -> Started {
    let (child, stderr) = spawn_with_stderr(command);
    let (addr_tx, addr_rx) = mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(start) = line.find("listening on https://") {
                // Ends at a slash (text logs) or a quote (JSON logs).
                let rest = &line[start + "listening on https://".len()..];
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                let _ = addr_tx.send(addr);
            }
            lines.push(line);
        }
        lines
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not start");
    Started { child, addr, log }
}
