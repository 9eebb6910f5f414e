//! The accept loop every TCP listener shares.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Accepts connections until `shutdown` is cancelled and runs `conn` for each one in its
/// own task, with TCP_NODELAY set and a child token of `shutdown`. Accept errors (out of
/// file descriptors and the like) back off instead of spinning.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    scheme: &'static str,
    shutdown: CancellationToken,
    conn: F,
) where
    F: Fn(TcpStream, SocketAddr, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = Duration::from_millis(5);
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => { backoff = Duration::from_millis(5); x }
                Err(e) => {
                    warn!("{scheme}: accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = sock.set_nodelay(true);
        tokio::spawn(conn(sock, peer, shutdown.child_token()));
    }
}
