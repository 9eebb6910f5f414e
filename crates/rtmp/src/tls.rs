//! TLS for RTMPS: the shared rustls helpers of the core.

pub use ferrocast_core::tls::{acceptor, fingerprint_client, insecure_client};
