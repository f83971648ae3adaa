//! Raw TLS connections to the server, for tests that must misbehave at the byte level:
//! dribbling headers, holding connections open, sending nothing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use step_posture_connector::client::client_config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::pki::Pki;

/// A TLS client configuration that trusts the test root and offers `alpn`.
pub fn tls_config(pki: &Pki, alpn: &[&[u8]]) -> anyhow::Result<Arc<ClientConfig>> {
    let mut config = (*client_config(Some(&pki.ca), None)?).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Opens a TLS connection to `addr` offering HTTP/1.1.
pub async fn connect(pki: &Pki, addr: SocketAddr) -> anyhow::Result<TlsStream<TcpStream>> {
    connect_with(tls_config(pki, &[b"http/1.1"])?, addr).await
}

/// Opens a TLS connection to `addr` offering HTTP/1.1, from the local address `from` (any
/// of 127.0.0.0/8 on Linux), so one test can be several clients.
pub async fn connect_from(
    pki: &Pki,
    from: std::net::IpAddr,
    addr: SocketAddr,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let socket = match from {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    let tcp = socket.connect(addr).await?;
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(tls_config(pki, &[b"http/1.1"])?)
        .connect(name, tcp)
        .await?)
}

/// POSTs `body` with `headers` to the webhook path on a new connection from `from`, and
/// returns the status, the response head (lower case) and the body.
pub async fn post_from(
    pki: &Pki,
    from: std::net::IpAddr,
    addr: SocketAddr,
    headers: &http::HeaderMap,
    body: &[u8],
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let mut stream = connect_from(pki, from, addr).await?;
    stream
        .write_all(&http1_request(
            "POST",
            "/webhook/device-attest",
            headers,
            body,
        ))
        .await?;
    read_response_with_head(&mut stream).await
}

/// Opens a TLS connection to `addr` with `config`.
pub async fn connect_with(
    config: Arc<ClientConfig>,
    addr: SocketAddr,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tls_over(config, tcp).await
}

/// Completes a TLS handshake with `config` over a connected `tcp`.
pub async fn tls_over(
    config: Arc<ClientConfig>,
    tcp: TcpStream,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(config).connect(name, tcp).await?)
}

/// `127.0.0.<n>`: on Linux every address of 127.0.0.0/8 is the loopback interface's, so each
/// is a distinct client address to the server.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `addr` from the local address `from` (any free port).
pub async fn tcp_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// Reads until the peer closes the connection (EOF or an error) and returns what was read
/// and when it closed; `None` if it is still open after `within`.
pub async fn wait_for_close<S>(stream: &mut S, within: Duration) -> Option<(Vec<u8>, Duration)>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some((received, started.elapsed())),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `bytes` one at a time, `interval` apart, stopping at the first write error (the
/// server closed). Returns how many bytes were written.
pub async fn dribble<S>(stream: &mut S, bytes: &[u8], interval: Duration) -> usize
where
    S: tokio::io::AsyncWrite + Unpin,
{
    for (i, byte) in bytes.iter().enumerate() {
        if stream.write_all(&[*byte]).await.is_err() || stream.flush().await.is_err() {
            return i;
        }
        tokio::time::sleep(interval).await;
    }
    bytes.len()
}

/// Reads one HTTP/1.1 response with a `Content-Length` from `stream`: its status and body.
pub async fn read_response<S>(stream: &mut S) -> anyhow::Result<(u16, Vec<u8>)>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let (status, _, body) = read_response_with_head(stream).await?;
    Ok((status, body))
}

/// As [`read_response`], with the response head (status line and headers) in lower case.
pub async fn read_response_with_head<S>(stream: &mut S) -> anyhow::Result<(u16, String, Vec<u8>)>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("no status line in {head:?}"))?;
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).await?;
                anyhow::ensure!(n > 0, "connection closed inside a response body");
                data.extend_from_slice(&buf[..n]);
            }
            return Ok((status, head, data[end + 4..end + 4 + length].to_vec()));
        }
        let n = stream.read(&mut buf).await?;
        anyhow::ensure!(n > 0, "connection closed before a response");
        data.extend_from_slice(&buf[..n]);
    }
}

/// Writes one HTTP/1.1 request ([`http1_request`]) on `stream` and reads its response
/// ([`read_response`]): the status and body.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use step_posture_tests::pki::Pki;
/// use step_posture_tests::raw::{connect, exchange};
/// use step_posture_tests::server::TestServer;
///
/// let pki = Pki::generate()?;
/// let server = TestServer::start(&pki, &[]).await?;
/// let mut stream = connect(&pki, server.addr()).await?;
/// let (status, _) = exchange(&mut stream, "GET", "/livez", &http::HeaderMap::new(), b"").await?;
/// assert_eq!(status, 200);
/// # Ok::<_, anyhow::Error>(()) })?;
/// # Ok::<_, anyhow::Error>(())
/// ```
pub async fn exchange<S>(
    stream: &mut S,
    method: &str,
    path: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(&http1_request(method, path, headers, body))
        .await?;
    read_response(stream).await
}

/// An HTTP/1.1 request: `method path`, `headers`, and `body` with its `Content-Length`.
pub fn http1_request(method: &str, path: &str, headers: &http::HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}
