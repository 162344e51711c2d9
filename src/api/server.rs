//! Serving the router on a socket, with the limits `axum::serve` has no knobs for: a connection
//! limit, a time limit on each request head (which also ends idle keep-alive connections) and on
//! each body, and a graceful shutdown that ends within a deadline however slow a client is.
//!
//! Without them an idle or slow client holds its socket for ever: about a thousand such clients
//! used up the process's file limit, and one was enough to keep SIGTERM from ever finishing.

use super::extract::BodyTimeout;
use super::{AppState, app};
use axum::Extension;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// What one client may hold of the server, and how long a shutdown may take.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Connections served at once. Further clients wait in the listen backlog until one closes,
    /// so the server never runs out of file descriptors.
    pub max_connections: usize,
    /// Time to receive a request's head, counted from when the server starts waiting for it:
    /// a slow or trickling client is cut off, and an idle keep-alive connection closed, after it.
    pub header_timeout: Duration,
    /// Time to receive a request's body (answered 408 when it runs out).
    pub body_timeout: Duration,
    /// After the shutdown signal: how long requests in flight may take before every connection
    /// still open is closed.
    pub shutdown_deadline: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: super::BODY_TIMEOUT,
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// Serves with the default limits until Ctrl-C or SIGTERM.
pub async fn serve(state: AppState, listener: TcpListener) -> std::io::Result<()> {
    serve_with(state, listener, ServerLimits::default(), shutdown_signal()).await
}

/// Serves until `shutdown` completes, then stops accepting, lets requests in flight finish and
/// returns within `limits.shutdown_deadline` (closing what is still open by then).
pub async fn serve_with(
    state: AppState,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = app(state).layer(Extension(BodyTimeout(limits.body_timeout)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let mut at_limit = false;
    loop {
        while connections.try_join_next().is_some() {}
        let slot = if let Ok(slot) = slots.clone().try_acquire_owned() {
            at_limit = false;
            slot
        } else {
            if !std::mem::replace(&mut at_limit, true) {
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached; new clients wait"
                );
            }
            tokio::select! {
                slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
                () = &mut shutdown => break,
            }
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let conn = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            let stopped = async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            tokio::pin!(conn);
            let served = tokio::select! {
                served = conn.as_mut() => served,
                () = stopped => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            deadline = ?limits.shutdown_deadline,
            "shutdown deadline passed; closing the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
