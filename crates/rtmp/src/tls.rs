//! TLS for RTMPS: the shared rustls helpers of the core.

pub use ferrocast_core::tls::{acceptor, insecure_client};
