//! step-ca's Go client negotiates HTTP/2 when the server offers it (`ForceAttemptHTTP2`), so
//! the webhook must answer the same over h2 as over HTTP/1.1.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use step_posture_connector::client::client_config;
use step_posture_tests::pki::Pki;
use step_posture_tests::server::{TestServer, enriching_body, enriching_signer, json};

#[tokio::test]
async fn decisions_over_http2() {
    let pki = Pki::generate().unwrap();
    let server = TestServer::start(&pki, &[]).await.unwrap();
    let mut tls = (*client_config(Some(&pki.ca), None).unwrap()).clone();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let url = server.webhook_url();
    let addr = format!("{}:{}", url.host().unwrap(), url.port_u16().unwrap());
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);

    // Several requests multiplexed on the one connection, allowed and denied.
    let mut answers = Vec::new();
    for serial in ["C02XL0GJJG5J", "C02UNKNOWN00", "F4KQ2J9XN7"] {
        let signed = enriching_signer()
            .unwrap()
            .sign_body(&enriching_body(serial, None).unwrap());
        let mut request = Request::post(url.clone())
            .body(Full::new(Bytes::from(signed.body)))
            .unwrap();
        request.headers_mut().extend(signed.headers);
        sender.ready().await.unwrap();
        answers.push(sender.send_request(request));
    }
    let mut results = Vec::new();
    for answer in answers {
        let response = answer.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        results.push(json(
            &response.into_body().collect().await.unwrap().to_bytes(),
        ));
    }
    assert_eq!(results[0]["allow"], true);
    assert_eq!(results[1]["error"]["code"], "deviceNotFound");
    assert_eq!(
        results[2]["data"]["user"]["email_address"],
        "bob@example.com"
    );
}
