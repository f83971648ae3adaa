//! The load generator against the real server and the ceiling, in-process on loopback.

use std::collections::HashMap;

use smallstep_webhook::WebhookSecret;
use step_posture_connector::commands::Server;
use step_posture_connector::config::Config;
use step_posture_connector::pki::generate_demo_pki;

use crate::ceiling::Ceiling;
use crate::devices::{self, Format};
use crate::load::{self, CsrPool, Stop, Target};
use crate::procfs::ClockTicks;

const ID: &str = "d09736a5-780b-476e-abdb-e2e4c0439cf9";

struct Fixture {
    dir: std::path::PathBuf,
    vars: HashMap<String, String>,
    secret: WebhookSecret,
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("step-posture-load-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = generate_demo_pki().unwrap();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.join("cert.pem"), &pki.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &pki.key_pem).unwrap();
    let file = devices::write(&dir, 50, Format::Csv).unwrap();
    let secret = WebhookSecret::generate().unwrap();
    let vars = [
        ("PROVIDER", "file".to_owned()),
        ("FILE_PATH", file.display().to_string()),
        ("FILE_TYPE", "csv".to_owned()),
        ("TLS_CERT_PATH", dir.join("cert.pem").display().to_string()),
        ("TLS_KEY_PATH", dir.join("key.pem").display().to_string()),
        ("WEBHOOK_IDS", ID.to_owned()),
        ("WEBHOOK_SECRETS", secret.to_base64()),
        ("BIND_ADDRESS", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Fixture { dir, vars, secret }
}

fn target(fixture: &Fixture, port: u16) -> Target {
    Target {
        url: format!("https://127.0.0.1:{port}/webhook/device-attest")
            .parse()
            .unwrap(),
        ca: fixture.dir.join("ca.pem"),
        webhook_id: ID.to_owned(),
        secret: fixture.secret.clone(),
        connections: 4,
        warmup: 2,
        // This process serves, so its CPU time is what is measured.
        server_pid: Some(std::process::id()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_server_allows_every_listed_device_and_denies_others() {
    let fixture = fixture("server");
    let server = Server::bind(Config::from_vars(&fixture.vars).unwrap())
        .await
        .unwrap();
    let port = server.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let clock = ClockTicks::query().unwrap();
    let mut pool = CsrPool::default();

    let target = target(&fixture, port);
    // Sends `requests` requests of `bodies`; the report and its (allows, denies, errors).
    let run = async |bodies, requests| {
        let report = load::run(&target, bodies, Stop::Requests(requests), clock)
            .await
            .unwrap();
        let counts = (report.allows, report.denies, report.errors);
        (report, counts)
    };
    let listed = pool.bodies(&devices::sample(50, 10)).unwrap();
    let (report, counts) = run(listed, 40).await;
    assert_eq!(counts, (40, 0, 0), "{report:?}");
    assert_eq!(report.latencies_us.len(), 40);
    assert!(report.cpu_us_per_request().is_some() && report.peak_rss.is_some());

    // Devices 50 and up are not in the 50-device list.
    let unlisted = pool
        .bodies(&[devices::identifier(50), devices::identifier(51)])
        .unwrap();
    let (report, counts) = run(unlisted, 8).await;
    assert_eq!(counts, (0, 8, 0), "{report:?}");

    let _ = stop.send(());
    serving.await.unwrap();
    let _ = std::fs::remove_dir_all(&fixture.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ceiling_answers_on_the_servers_settings() {
    let fixture = fixture("ceiling");
    let ceiling = Ceiling::bind(&fixture.vars).await.unwrap();
    let port = ceiling.local_addr().unwrap().port();
    let serving = tokio::spawn(ceiling.run());
    let bodies = CsrPool::default().bodies(&devices::sample(50, 3)).unwrap();
    let report = load::run(
        &target(&fixture, port),
        bodies,
        Stop::Requests(12),
        ClockTicks::query().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!((report.allows, report.errors), (12, 0), "{report:?}");
    serving.abort();
    let _ = std::fs::remove_dir_all(&fixture.dir);
}
