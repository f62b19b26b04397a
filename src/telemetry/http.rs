//! The telemetry HTTP server: `/health/live` (200 while the process runs),
//! `/health/ready` (200 when [`Metrics::is_ready`], else 503) and `/metrics` (Prometheus
//! text), served by hyper (HTTP/1.1) on the telemetry runtime ([`super::runtime`]).
//! Connections are bounded: at most [`MAX_CONNECTIONS`] at once (more get an immediate
//! 503), [`IO_TIMEOUT`] to read a request head of at most [`MAX_REQUEST`] bytes, and
//! [`CONNECTION_DEADLINE`] for the whole connection, so idle or slow clients cannot hold
//! up the kubelet's probe. Only `GET`/`HEAD` are served; garbage gets hyper's 4xx, never
//! an echo of the request. It owns the socket and the routing; it renders nothing itself
//! (the metrics come from `prometheus::render`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};

use super::{Metrics, TelemetryError, prometheus};
use crate::log;

/// Largest request head read (request line and headers); hyper's smallest buffer.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Deadline to read a request head.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of a whole connection: head, response and close.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(4);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// Liveness path.
pub const LIVE_PATH: &str = "/health/live";
/// Readiness path.
pub const READY_PATH: &str = "/health/ready";
/// Prometheus scrape path.
pub const METRICS_PATH: &str = "/metrics";

const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n";

/// A running server; [`HttpServer::shutdown`] stops it (dropping it leaves it running
/// until the runtime stops).
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: std::sync::mpsc::Receiver<()>,
}

impl HttpServer {
    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes the listening socket and waits (briefly) until it has.
    pub fn shutdown(self) {
        let _ = self.stop.send(());
        if self.done.recv_timeout(CONNECTION_DEADLINE).is_err() {
            log::warn("http: the server did not stop in time");
        }
    }
}

/// Binds `bind:port` and serves on `rt`. Port 0 binds an ephemeral port (tests use it;
/// read it back with [`HttpServer::local_addr`]); `telemetry.http_port = 0` in the
/// configuration means "no server", so the caller does not call this then
/// ([`super::Telemetry::start`] does exactly that).
pub fn serve(
    rt: &tokio::runtime::Handle,
    bind: &str,
    port: u16,
    metrics: Arc<Metrics>,
) -> Result<HttpServer, TelemetryError> {
    let host = bind.trim_start_matches('[').trim_end_matches(']');
    let std_listener =
        std::net::TcpListener::bind((host, port)).map_err(|source| TelemetryError::Bind {
            addr: format!("{bind}:{port}"),
            source,
        })?;
    let io = |context| move |source| TelemetryError::Io { context, source };
    std_listener
        .set_nonblocking(true)
        .map_err(io("making the HTTP socket non-blocking"))?;
    let addr = std_listener
        .local_addr()
        .map_err(io("reading the HTTP server's address"))?;
    let listener = {
        let _in_runtime = rt.enter();
        TcpListener::from_std(std_listener).map_err(io("registering the HTTP socket"))?
    };
    let (stop, stopped) = oneshot::channel();
    let (done_tx, done) = std::sync::mpsc::channel();
    rt.spawn(async move {
        accept_loop(listener, metrics, stopped).await;
        let _ = done_tx.send(());
    });
    log::info(&format!(
        "http: serving {LIVE_PATH}, {READY_PATH}, {METRICS_PATH} on {addr}"
    ));
    Ok(HttpServer { addr, stop, done })
}

async fn accept_loop(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut last_error: Option<std::time::Instant> = None;
    loop {
        let conn = tokio::select! {
            _ = &mut stop => return,
            conn = listener.accept() => conn,
        };
        match conn {
            Ok((s, _)) => match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => {
                    let m = Arc::clone(&metrics);
                    tokio::spawn(async move {
                        serve_connection(s, m).await;
                        drop(slot);
                    });
                }
                Err(_) => {
                    tokio::spawn(busy(s));
                }
            },
            Err(e) => {
                // Out of file descriptors and the like: say so at most once a minute,
                // and do not spin on it.
                if last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    log::warn(&format!("http: accept failed: {}", e.kind()));
                    last_error = Some(std::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Answers 503 on a connection over the bound, without reading it.
async fn busy(mut s: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_millis(100), s.write_all(BUSY)).await;
}

async fn serve_connection(s: TcpStream, metrics: Arc<Metrics>) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let m = Arc::clone(&metrics);
        async move { Ok::<_, Infallible>(route(&req, &m)) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(IO_TIMEOUT)
        .max_buf_size(MAX_REQUEST)
        .keep_alive(false)
        // A client may shut its write side once the request is sent (`nc -N`, some
        // probes); without this hyper closes on that EOF, racing the response.
        .half_close(true)
        .serve_connection(TokioIo::new(s), service);
    match tokio::time::timeout(CONNECTION_DEADLINE, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::debug(&format!("http: connection ended: {}", error_kind(&e))),
        Err(_) => log::debug("http: connection ended: deadline"),
    }
}

/// A fixed word for a connection error (hyper's messages may quote the request).
fn error_kind(e: &hyper::Error) -> &'static str {
    if e.is_parse_too_large() {
        "head too large"
    } else if e.is_parse() {
        "unparsable"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_incomplete_message() {
        "incomplete"
    } else {
        "io"
    }
}

/// The response to one request.
fn route(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let reply = |status: StatusCode, ctype: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(ctype),
        );
        h.insert(
            hyper::header::CACHE_CONTROL,
            hyper::header::HeaderValue::from_static("no-store"),
        );
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "method not allowed\n".into(),
        );
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    match req.uri().path() {
        LIVE_PATH => reply(StatusCode::OK, TEXT, "live\n".into()),
        READY_PATH if metrics.is_ready() => reply(StatusCode::OK, TEXT, "ready\n".into()),
        READY_PATH => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n".into()),
        METRICS_PATH => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            prometheus::render(metrics),
        ),
        _ => reply(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::Ordering;

    fn serve(_: &str, port: u16, m: Arc<Metrics>) -> Result<HttpServer, TelemetryError> {
        super::serve(
            super::super::runtime().expect("runtime"),
            "127.0.0.1",
            port,
            m,
        )
    }

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
        // hyper answers an HTTP/1.0 request in HTTP/1.0.
        assert!(ask(a, b"GET /health/ready?x=1 HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200 "));
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
        let again = ask(a, b"GET /health/live HTTP/1.1\r\n\r\n");
        assert!(
            again.starts_with("HTTP/1.1 200 "),
            "still serving: {again:?}"
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
        // Accepted in order after the 50, each of which already holds a connection slot.
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
