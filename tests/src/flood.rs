//! Floods of connections that take a slot and ask nothing, from a chosen loopback address:
//! the attack that once kept every connection slot full (docs/security.md, "Connection
//! admission"). Bounded: a fixed number of sockets, each opened again at most
//! [`MAX_OPENINGS`] times (or as [`Reopening`] says), until the flood is stopped.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::pki::Pki;
use crate::raw::{read_response, tcp_from, tls_config, tls_over};

/// How often one flood socket is opened again after the server closed or refused it.
pub const MAX_OPENINGS: usize = 50;

/// The HTTP/2 connection preface, an empty SETTINGS frame, and the first 10 bytes of a
/// HEADERS frame that announces 100: the server waits for the other 90.
pub const UNFINISHED_HTTP2: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\
\x00\x00\x00\x04\x00\x00\x00\x00\x00\
\x00\x00\x64\x01\x04\x00\x00\x00\x01\
\x82\x86\x84\x41\x8a\x08\x9d\x5c\x0b\x81";

/// How a flood connection keeps quiet.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Silence {
    /// Connects and never starts the TLS handshake (or, on plain HTTP, never sends a byte).
    Tcp,
    /// Completes the TLS handshake for HTTP/1.1, then sends nothing.
    Tls,
    /// Completes the TLS handshake for h2, sends the connection preface, an empty SETTINGS
    /// frame and part of a HEADERS frame, then nothing more.
    Http2,
    /// Plain HTTP (the metrics listener): one `GET /livez`, answered, then the connection is
    /// kept open and idle.
    PlainIdle,
    /// As [`Silence::PlainIdle`] over TLS for HTTP/1.1 (the webhook listener).
    TlsIdle,
}

/// When a flood socket that the server closed, or refused, is opened again.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Reopening {
    /// The pause before it is opened again.
    pub pause: Duration,
    /// How many times it is opened at most; `None`: until the flood is stopped.
    pub at_most: Option<usize>,
}

impl Default for Reopening {
    /// 10 ms later, at most [`MAX_OPENINGS`] times: a short test keeps its slots full.
    fn default() -> Self {
        Self {
            pause: Duration::from_millis(10),
            at_most: Some(MAX_OPENINGS),
        }
    }
}

/// The TLS client configurations a flood uses: one offering HTTP/1.1, one offering h2.
#[derive(Clone, Debug)]
pub struct FloodTls {
    /// Offers `http/1.1`.
    pub http1: Arc<ClientConfig>,
    /// Offers `h2`.
    pub http2: Arc<ClientConfig>,
}

impl FloodTls {
    /// Both configurations, trusting the test root.
    pub fn trusting(pki: &Pki) -> anyhow::Result<Self> {
        Ok(Self {
            http1: tls_config(pki, &[b"http/1.1"])?,
            http2: tls_config(pki, &[b"h2"])?,
        })
    }
}

/// A running flood; [`Flood::stop`] ends it and closes its sockets.
#[derive(Debug)]
pub struct Flood {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Connections that reached their quiet state (and so held a slot, or waited for one).
    held: AtomicUsize,
    /// Held connections the server closed.
    closed: AtomicUsize,
    /// Connections the server closed or refused before they reached their quiet state.
    refused: AtomicUsize,
}

impl Flood {
    /// Starts `sockets` connections from `from` to `addr`, the `n`th quiet in the way
    /// `kinds[n % kinds.len()]` says. A connection the server closes is opened again 10 ms
    /// later, at most [`MAX_OPENINGS`] times.
    pub fn start(
        tls: &FloodTls,
        addr: SocketAddr,
        from: IpAddr,
        sockets: usize,
        kinds: &[Silence],
    ) -> Self {
        Self::start_reopening(tls, addr, from, sockets, kinds, Reopening::default())
    }

    /// As [`Flood::start`], opening closed connections again as `reopening` says.
    pub fn start_reopening(
        tls: &FloodTls,
        addr: SocketAddr,
        from: IpAddr,
        sockets: usize,
        kinds: &[Silence],
        reopening: Reopening,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let counts = Arc::new(Counts::default());
        let tasks = (0..sockets)
            .map(|n| {
                let kind = kinds[n % kinds.len()];
                let tls = tls.clone();
                let counts = counts.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    for _ in 0..reopening.at_most.unwrap_or(usize::MAX) {
                        tokio::select! {
                            () = hold(&tls, addr, from, kind, &counts) => {}
                            _ = stopped.wait_for(|stop| *stop) => return,
                        }
                        tokio::select! {
                            () = tokio::time::sleep(reopening.pause) => {}
                            _ = stopped.wait_for(|stop| *stop) => return,
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            tasks,
            counts,
        }
    }

    /// Connections that reached their quiet state so far, reopenings included.
    pub fn held(&self) -> usize {
        self.counts.held.load(Ordering::Relaxed)
    }

    /// Held connections the server has closed so far.
    pub fn closed(&self) -> usize {
        self.counts.closed.load(Ordering::Relaxed)
    }

    /// Connections the server closed or refused before they reached their quiet state.
    pub fn refused(&self) -> usize {
        self.counts.refused.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` connections were held, or `within` has passed; returns
    /// whether they were.
    pub async fn until_held(&self, n: usize, within: Duration) -> bool {
        let started = Instant::now();
        while self.held() < n {
            if started.elapsed() >= within {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Stops the flood and closes its sockets.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens one connection, brings it to its quiet state, and returns when the server closes it.
async fn hold(tls: &FloodTls, addr: SocketAddr, from: IpAddr, kind: Silence, counts: &Counts) {
    let Ok(mut tcp) = tcp_from(from, addr).await else {
        counts.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let quiet: Result<Box<dyn AsyncRead + Send + Unpin>, ()> = match kind {
        Silence::Tcp => Ok(Box::new(tcp)),
        Silence::Tls => tls_over(tls.http1.clone(), tcp)
            .await
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>)
            .map_err(drop),
        Silence::Http2 => match tls_over(tls.http2.clone(), tcp).await {
            Ok(mut stream) => match stream.write_all(UNFINISHED_HTTP2).await {
                Ok(()) => Ok(Box::new(stream)),
                Err(_) => Err(()),
            },
            Err(_) => Err(()),
        },
        Silence::PlainIdle => match livez(&mut tcp).await {
            Ok(()) => Ok(Box::new(tcp)),
            Err(()) => Err(()),
        },
        Silence::TlsIdle => match tls_over(tls.http1.clone(), tcp).await {
            Ok(mut stream) => match livez(&mut stream).await {
                Ok(()) => Ok(Box::new(stream)),
                Err(()) => Err(()),
            },
            Err(_) => Err(()),
        },
    };
    let Ok(mut stream) = quiet else {
        counts.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    counts.held.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0_u8; 1024];
    // Whatever the server sends (HTTP/2 SETTINGS, a GOAWAY) is read until it closes.
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    counts.closed.fetch_add(1, Ordering::Relaxed);
}

/// One `GET /livez` on `stream`; an error unless it is answered 200.
async fn livez<S>(stream: &mut S) -> Result<(), ()>
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = b"GET /livez HTTP/1.1\r\nhost: localhost\r\n\r\n";
    stream.write_all(request).await.map_err(drop)?;
    match read_response(stream).await {
        Ok((200, _)) => Ok(()),
        _ => Err(()),
    }
}
