//! Small I/O helpers shared by the server and the client.

use std::io::IoSlice;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Most buffers handed to one writev (Linux IOV_MAX is 1024).
const MAX_IOV: usize = 256;

/// Writes every buffer with as few system calls as the kernel allows (vectored writes).
pub async fn write_all_vectored<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut Vec<Bytes>,
) -> std::io::Result<usize> {
    let mut total = 0;
    let mut first = 0;
    while first < bufs.len() {
        let n = {
            let slices: Vec<IoSlice<'_>> = bufs[first..]
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            w.write_vectored(&slices).await?
        };
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
