//! Closing a connection without destroying the last answer.
//!
//! A TCP socket closed with unread data in its receive buffer sends a reset, and a client
//! still sending fails with it, usually before it reads what the server answered: a `413`
//! for a body over `MAX_BODY_BYTES` was lost this way. So when the server closes a
//! connection it half-closes first (TLS close_notify, then FIN), and then reads and discards
//! what the client still sends, until the client closes its side, up to a byte cap and a
//! deadline. Past either, the connection closes as before, reset and all.
//!
//! The same wrapper tells the connection's watchdog about every read before the shutdown
//! ([`OnRead`]), so a connection's stream is wrapped once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a closing connection waits for the client to finish sending and close.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);

/// Reads at most this much at a time while lingering.
const CHUNK: usize = 8 * 1024;

/// Told when bytes arrive from the client, before the shutdown.
pub(crate) trait OnRead {
    /// Bytes arrived.
    fn bytes_read(&self);
}

impl OnRead for () {
    fn bytes_read(&self) {}
}

/// A stream whose shutdown lingers, and whose reads are reported to `R`: see the module
/// docs.
#[derive(Debug)]
pub(crate) struct Lingering<S, R> {
    inner: S,
    on_read: R,
    /// Most bytes discarded after the half-close.
    max_bytes: usize,
    time: Duration,
    state: State,
}

#[derive(Debug)]
enum State {
    Open,
    Draining {
        deadline: Pin<Box<Sleep>>,
        left: usize,
    },
    Closed,
}

impl<S, R> Lingering<S, R> {
    /// `inner`, reporting reads to `on_read`, and discarding at most `max_bytes` for at most
    /// `time` when shut down.
    pub(crate) fn new(inner: S, on_read: R, max_bytes: usize, time: Duration) -> Self {
        Self {
            inner,
            on_read,
            max_bytes,
            time,
            state: State::Open,
        }
    }
}

impl<S: AsyncRead + Unpin, R: OnRead + Unpin> AsyncRead for Lingering<S, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.on_read.bytes_read();
        }
        result
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, R: Unpin> AsyncWrite for Lingering<S, R> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Open => {
                    if let Err(err) = ready!(Pin::new(&mut this.inner).poll_shutdown(cx)) {
                        this.state = State::Closed;
                        return Poll::Ready(Err(err));
                    }
                    this.state = State::Draining {
                        deadline: Box::pin(tokio::time::sleep(this.time)),
                        left: this.max_bytes,
                    };
                }
                State::Draining { deadline, left } => {
                    if deadline.as_mut().poll(cx).is_ready() || *left == 0 {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut chunk = [0_u8; CHUNK];
                    let want = (*left).min(CHUNK);
                    let mut buf = ReadBuf::new(&mut chunk[..want]);
                    match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut buf)) {
                        Ok(()) if !buf.filled().is_empty() => {
                            *left = left.saturating_sub(buf.filled().len());
                        }
                        // The client closed its side, or the connection failed: nothing
                        // more to wait for.
                        Ok(()) | Err(_) => this.state = State::Closed,
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn shutdown_half_closes_then_reads_until_the_client_closes() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut server = Lingering::new(server, (), 1 << 20, Duration::from_secs(5));
        server.write_all(b"HTTP/1.1 413").await.unwrap();
        // The client is still sending: more than the duplex buffer holds, so the server's
        // shutdown must read it for the client to finish.
        let client_side = tokio::spawn(async move {
            client.write_all(&[b'x'; 64 * 1024]).await.unwrap();
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.unwrap();
            answer
        });
        server.shutdown().await.unwrap();
        assert_eq!(client_side.await.unwrap(), b"HTTP/1.1 413");
    }

    #[tokio::test]
    async fn lingering_stops_at_the_byte_cap() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut server = Lingering::new(server, (), 4096, Duration::from_secs(60));
        let client_side = tokio::spawn(async move {
            // Never closes, and sends more than the cap.
            let _ = client.write_all(&[b'x'; 64 * 1024]).await;
            client
        });
        tokio::time::timeout(Duration::from_secs(5), server.shutdown())
            .await
            .expect("lingered past the byte cap")
            .unwrap();
        drop(server);
        drop(client_side.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn lingering_stops_at_the_deadline() {
        let (server, client) = tokio::io::duplex(1024);
        let mut server = Lingering::new(server, (), 1 << 20, Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        // The client neither sends nor closes.
        server.shutdown().await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        drop(client);
    }
}
