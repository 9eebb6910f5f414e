//! Small I/O helpers shared by the server and the client.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most buffers handed to one vectored write (Linux IOV_MAX is 1024).
const MAX_IOV: usize = 256;

/// A stream that can send several buffers in one system call.
pub trait SendVectored: AsyncWrite + Unpin + Send {
    fn poll_send_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(self).poll_write_vectored(cx, bufs)
    }
}

impl SendVectored for TcpStream {
    /// sendmsg(2) straight on the socket: writev(2) costs a trip through the VFS layer
    /// (file position lock, iterator set-up) that a socket does not need.
    fn poll_send_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            ready!(self.poll_write_ready(cx))?;
            let sock = socket2::SockRef::from(&*self);
            match self.try_io(tokio::io::Interest::WRITABLE, || sock.send_vectored(bufs)) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }
}

impl<S: AsyncWrite + tokio::io::AsyncRead + Unpin + Send> SendVectored
    for tokio_rustls::server::TlsStream<S>
{
}
impl<S: AsyncWrite + tokio::io::AsyncRead + Unpin + Send> SendVectored
    for tokio_rustls::client::TlsStream<S>
{
}
impl SendVectored for Box<dyn crate::client::Io> {}

/// Writes every buffer with as few system calls as the kernel allows.
pub async fn write_all_vectored<W: SendVectored>(
    w: &mut W,
    bufs: &mut Vec<Bytes>,
) -> std::io::Result<usize> {
    let mut total = 0;
    let mut first = 0;
    while first < bufs.len() {
        let n = std::future::poll_fn(|cx| {
            let slices: Vec<IoSlice<'_>> = bufs[first..]
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            w.poll_send_vectored(cx, &slices)
        })
        .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        total += n;
        let mut left = n;
        while left > 0 && first < bufs.len() {
            let len = bufs[first].len();
            if left >= len {
                left -= len;
                first += 1;
            } else {
                bufs[first].advance(left);
                left = 0;
            }
        }
        while first < bufs.len() && bufs[first].is_empty() {
            first += 1;
        }
    }
    bufs.clear();
    w.flush().await?;
    Ok(total)
}
