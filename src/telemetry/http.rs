//! The telemetry HTTP server: `/health/live` (200 while the process runs),
//! `/health/ready` (200 when [`Metrics::is_ready`], else 503) and `/metrics` (Prometheus
//! text). One `std::net` thread accepts; each connection is served on a thread of its
//! own, at most [`MAX_CONNECTIONS`] at once (more get an immediate 503), so idle or slow
//! clients cannot hold up the kubelet's probe. Requests are bounded ([`MAX_REQUEST`]
//! bytes, [`IO_TIMEOUT`] to read the head, [`CONNECTION_DEADLINE`] for the whole
//! connection), only `GET`/`HEAD` are served, and garbage gets a 4xx — it never panics
//! and never echoes the request. It owns
//! the socket and the routing; it renders nothing itself (the metrics come from
//! `prometheus::render`).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Metrics, TelemetryError, prometheus};
use crate::log;

/// Largest request head read (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;
/// Deadline to read a request head.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of a whole connection: head, response and the drain before closing.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(4);
/// Connections served at once; each holds a thread for at most the deadline.
pub const MAX_CONNECTIONS: usize = 64;

/// Liveness path.
pub const LIVE_PATH: &str = "/health/live";
/// Readiness path.
pub const READY_PATH: &str = "/health/ready";
/// Prometheus scrape path.
pub const METRICS_PATH: &str = "/metrics";

/// A running server; [`HttpServer::shutdown`] stops it (dropping it leaves it running
/// until the process exits).
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl HttpServer {
    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and joins the server thread.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let wake = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), self.addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), self.addr.port())
            }
            _ => self.addr,
        };
        let _ = TcpStream::connect_timeout(&wake, IO_TIMEOUT);
        if self.handle.join().is_err() {
            log::warn("http: server thread panicked");
        }
    }
}

/// Binds `bind:port` and serves. Port 0 binds an ephemeral port (tests use it; read it
/// back with [`HttpServer::local_addr`]); `telemetry.http_port = 0` in the configuration
/// means "no server", so the caller does not call this then ([`super::Telemetry::start`]
/// does exactly that).
pub fn serve(bind: &str, port: u16, metrics: Arc<Metrics>) -> Result<HttpServer, TelemetryError> {
    let host = bind.trim_start_matches('[').trim_end_matches(']');
    let listener = TcpListener::bind((host, port)).map_err(|source| TelemetryError::Bind {
        addr: format!("{bind}:{port}"),
        source,
    })?;
    serve_on(listener, metrics)
}

/// Serves on a listener the caller bound.
pub fn serve_on(
    listener: TcpListener,
    metrics: Arc<Metrics>,
) -> Result<HttpServer, TelemetryError> {
    let addr = listener.local_addr().map_err(|source| TelemetryError::Io {
        context: "reading the HTTP server's address",
        source,
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("telemetry-http".into())
            .spawn(move || accept_loop(&listener, &metrics, &stop))
            .map_err(|source| TelemetryError::Io {
                context: "starting the HTTP server thread",
                source,
            })?
    };
    log::info(&format!(
        "http: serving {LIVE_PATH}, {READY_PATH}, {METRICS_PATH} on {addr}"
    ));
    Ok(HttpServer { addr, stop, handle })
}

fn accept_loop(listener: &TcpListener, metrics: &Arc<Metrics>, stop: &AtomicBool) {
    let mut last_error: Option<Instant> = None;
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match conn {
            Ok(s) => dispatch(s, metrics, &active),
            Err(e) => {
                // Out of file descriptors and the like: say so at most once a minute.
                if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    log::warn(&format!("http: accept failed: {}", e.kind()));
                    last_error = Some(Instant::now());
                }
            }
        }
    }
}

/// Serves `s` on a thread of its own, or answers 503 at once when [`MAX_CONNECTIONS`] are
/// being served already.
fn dispatch(mut s: TcpStream, metrics: &Arc<Metrics>, active: &Arc<AtomicUsize>) {
    if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::SeqCst);
        let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = s.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n",
        );
        return;
    }
    let (metrics, held) = (Arc::clone(metrics), Arc::clone(active));
    let spawned = std::thread::Builder::new()
        .name("telemetry-conn".into())
        .spawn(move || {
            if let Err(e) = handle(s, &metrics) {
                log::debug(&format!("http: connection ended: {}", e.kind()));
            }
            held.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        // The closure (and its count) went with the failed spawn: give the slot back.
        active.fetch_sub(1, Ordering::SeqCst);
        log::warn(&format!("http: no thread for a connection: {}", e.kind()));
    }
}

/// Reads the request head: until the blank line, [`MAX_REQUEST`] bytes or the deadline.
fn read_head(s: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(Some(buf));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
}

/// Status, content type and body for a request head.
fn route(head: Option<&[u8]>, metrics: &Metrics) -> (u16, &'static str, String, bool) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let Some(head) = head else {
        return (431, TEXT, "request too large\n".into(), false);
    };
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line)
        .unwrap_or("")
        .trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return (400, TEXT, "bad request\n".into(), false);
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return (400, TEXT, "bad request\n".into(), false);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return (405, TEXT, "method not allowed\n".into(), false),
    };
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let (status, ctype, body) = match path {
        LIVE_PATH => (200, TEXT, "live\n".to_string()),
        READY_PATH if metrics.is_ready() => (200, TEXT, "ready\n".to_string()),
        READY_PATH => (503, TEXT, "not ready\n".to_string()),
        METRICS_PATH => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            prometheus::render(metrics),
        ),
        _ => (404, TEXT, "not found\n".to_string()),
    };
    (status, ctype, body, head_only)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn handle(mut s: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let deadline = Instant::now() + CONNECTION_DEADLINE;
    let head = read_head(&mut s)?;
    if head.as_ref().is_some_and(Vec::is_empty) {
        return Ok(()); // connected and closed (a TCP probe, or our own shutdown wake-up)
    }
    let (status, ctype, body, head_only) = route(head.as_deref(), metrics);
    let mut resp = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
        reason(status),
        body.len()
    );
    if status == 405 {
        resp.push_str("Allow: GET, HEAD\r\n");
    }
    resp.push_str("\r\n");
    write_until(&mut s, resp.as_bytes(), deadline)?;
    if !head_only {
        write_until(&mut s, body.as_bytes(), deadline)?;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    // Read what the client may still be sending (bounded in bytes and time), so closing
    // does not reset the connection before it has read the response.
    let mut sink = [0u8; 4096];
    let mut left = 16 * MAX_REQUEST;
    while left > 0 {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        if wait.is_zero() {
            break;
        }
        s.set_read_timeout(Some(wait))?;
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
    Ok(())
}

/// Writes all of `buf` unless `deadline` passes first: a client reading one byte at a
/// time cannot hold the connection longer than that.
fn write_until(s: &mut TcpStream, mut buf: &[u8], deadline: Instant) -> std::io::Result<()> {
    while !buf.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        s.set_write_timeout(Some(left))?;
        let n = s.write(buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(raw);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn routes_health_and_metrics_and_survives_garbage() {
        let m = Arc::new(Metrics::default());
        let srv = serve("127.0.0.1", 0, Arc::clone(&m)).unwrap();
        let a = srv.local_addr();
        assert!(
            ask(a, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").starts_with("HTTP/1.1 200 ")
        );
        assert!(ask(a, b"GET /health/ready HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 503 "));
        m.ready.store(true, Ordering::SeqCst);
        m.tables_running.store(true, Ordering::SeqCst);
        assert!(ask(a, b"GET /health/ready?x=1 HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200 "));
        m.fenced.store(true, Ordering::SeqCst);
        assert!(ask(a, b"GET /health/ready HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 503 "));
        let metrics = ask(a, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(
            metrics.starts_with("HTTP/1.1 200 ")
                && metrics.contains("consent_enricher_uptime_seconds ")
        );
        let head = ask(a, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 ") && !head.contains("consent_enricher_"));
        assert!(ask(a, b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        assert!(ask(a, b"GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(ask(a, b"\x00\xff\xfe garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 3 * MAX_REQUEST));
        assert!(ask(a, &big).starts_with("HTTP/1.1 431 "));
        assert!(
            ask(a, b"GET /health/live HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "),
            "still serving"
        );
        srv.shutdown();
        assert!(
            TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_err(),
            "closed after shutdown"
        );
    }

    #[test]
    fn fifty_slow_clients_do_not_hold_up_the_readiness_probe() {
        let m = Arc::new(Metrics::default());
        m.ready.store(true, Ordering::SeqCst);
        m.tables_running.store(true, Ordering::SeqCst);
        let srv = serve("127.0.0.1", 0, Arc::clone(&m)).unwrap();
        let a = srv.local_addr();
        // Half of them idle after connecting, half send part of a head and stall.
        let slow: Vec<TcpStream> = (0..50)
            .map(|i| {
                let mut s = TcpStream::connect(a).unwrap();
                if i % 2 == 1 {
                    s.write_all(b"GET /metr").unwrap();
                }
                s
            })
            .collect();
        // Accepted in order after the 50, each of which already holds its own thread.
        let mut probe = TcpStream::connect(a).unwrap();
        // The kubelet's default probe timeout: the answer must come well inside it, while
        // every slow connection is still open (their head deadline is 2 s).
        probe
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        probe
            .write_all(b"GET /health/ready HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut out = [0u8; 64];
        let n = probe.read(&mut out).unwrap();
        assert!(out[..n].starts_with(b"HTTP/1.1 200 "), "{:?}", &out[..n]);
        drop(slow);
        srv.shutdown();
    }

    #[test]
    fn connections_over_the_bound_get_a_quick_503() {
        let m = Arc::new(Metrics::default());
        let srv = serve("127.0.0.1", 0, Arc::clone(&m)).unwrap();
        let a = srv.local_addr();
        let held: Vec<TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(a).unwrap())
            .collect();
        // The accept thread takes connections in order: once it answered the one after
        // the bound, all the held ones are counted.
        let over = ask(a, b"GET /health/live HTTP/1.1\r\n\r\n");
        assert!(over.starts_with("HTTP/1.1 503 "), "{over}");
        drop(held);
        srv.shutdown();
    }
}
