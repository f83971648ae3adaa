//! The TLS configuration as a real client sees it: `openssl s_client` must fail to
//! negotiate TLS 1.0, TLS 1.1 and non-AEAD (CBC) suites, and succeed with TLS 1.2 and 1.3.
//! Skipped, with a message, only where the openssl command is not installed and this is not CI:
//! under CI (`CI` set, as `.ci/run` runs) a missing openssl fails the test, since `.ci/run`
//! installs it.

use std::process::{Command, Stdio};

use step_posture_tests::pki::Pki;
use step_posture_tests::server::TestServer;

/// Runs `openssl s_client` against `port` with `args`; returns (handshake succeeded, output).
fn s_client(port: u16, ca: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-CAfile"])
        .arg(ca)
        .args(["-verify_return_error", "-brief"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let connected = output.status.success() && text.contains("CONNECTION ESTABLISHED");
    (connected, text)
}

fn openssl_present() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
#[allow(clippy::disallowed_macros)] // says why the test did nothing, when it skips
async fn openssl_negotiates_only_tls_1_2_and_1_3_with_aead_suites() {
    if !openssl_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the openssl command is not installed; .ci/run installs it (Debian package openssl)"
        );
        eprintln!("SKIPPED: the openssl command is not installed");
        return;
    }
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let port = server.addr().port();
    let ca = pki.ca.clone();
    let results = tokio::task::spawn_blocking(move || {
        // SECLEVEL=0 lets this openssl *offer* the old protocols and suites, so a refusal
        // comes from the server, not from the client's own policy.
        let old = "DEFAULT:@SECLEVEL=0";
        let cbc = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:\
                   ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA:\
                   AES128-SHA256:DES-CBC3-SHA:@SECLEVEL=0";
        let rsa_key_exchange = "AES128-GCM-SHA256:AES256-GCM-SHA384";
        let gcm = "ECDHE-ECDSA-AES128-GCM-SHA256";
        let chacha = "ECDHE-ECDSA-CHACHA20-POLY1305";
        // The protocol offered, the suites offered (`None`: openssl's defaults), and whether
        // the handshake must succeed.
        let cases = [
            ("-tls1", Some(old), false),
            ("-tls1_1", Some(old), false),
            // TLS 1.2 with CBC suites only.
            ("-tls1_2", Some(cbc), false),
            // TLS 1.2 without forward secrecy.
            ("-tls1_2", Some(rsa_key_exchange), false),
            ("-tls1_2", None, true),
            ("-tls1_2", Some(gcm), true),
            ("-tls1_2", Some(chacha), true),
            ("-tls1_3", None, true),
        ];
        cases.map(|(protocol, suites, expected)| {
            let mut args = vec![protocol];
            args.extend(suites.into_iter().flat_map(|suites| ["-cipher", suites]));
            let case = format!("{protocol} {}", suites.unwrap_or("(defaults)"));
            (case, s_client(port, &ca, &args), expected)
        })
    })
    .await
    .unwrap();
    for (case, (connected, output), expected) in results {
        assert_eq!(connected, expected, "{case}:\n{output}");
        if expected {
            let version = if case.starts_with("-tls1_3") {
                "TLSv1.3"
            } else {
                "TLSv1.2"
            };
            assert!(
                output.contains(&format!("Protocol version: {version}")),
                "{case}:\n{output}"
            );
        }
    }
}
