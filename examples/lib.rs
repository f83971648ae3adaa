//! Runnable examples of the step-posture-connector crates. The code is in the examples;
//! each opens with how to run it.
//!
//! | example | what it shows |
//! |---|---|
//! | `embed_webhook` | a custom hyper server that uses only `smallstep-webhook` to verify step-ca's webhook requests and answer them |
//! | `custom_server` | the complete bundled server (every subcommand and setting) plus a provider of its own, `static`, usable alone or combined with the built-in ones |
//! | `custom_provider` | a provider of your own (about 50 lines) behind a minimal HTTPS server built from the library crates |
//! | `sign_request` | signing a request exactly as step-ca does, and checking it as a server would |
//!
//! ```sh
//! cargo run -p step-posture-examples --example embed_webhook -- --smoke
//! cargo run -p step-posture-examples --example custom_provider -- --smoke
//! cargo run -p step-posture-examples --example sign_request
//! PROVIDER=static STATIC_ALLOW=C02XL0GJJG5J TLS_CERT_PATH=… TLS_KEY_PATH=… WEBHOOK_IDS=… WEBHOOK_SECRETS=… \
//!   cargo run -p step-posture-examples --example custom_server -- check-config
//! ```
//!
//! The files `devices.json` and `devices.csv` beside them are example device lists for the
//! file provider (`FILE_PATH`, `FILE_TYPE`).
