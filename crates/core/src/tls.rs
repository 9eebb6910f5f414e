//! TLS with rustls, for every TLS listener and client (RTMPS, RTSPS).

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// Loads a PEM certificate chain and key into a TLS acceptor.
pub fn acceptor(cert_path: &str, key_path: &str) -> Result<tokio_rustls::TlsAcceptor, String> {
    let cert_pem = std::fs::read(cert_path)
        .map_err(|e| format!("cannot read TLS certificate {cert_path}: {e}"))?;
    let key_pem =
        std::fs::read(key_path).map_err(|e| format!("cannot read TLS key {key_path}: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid certificate in {cert_path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {cert_path}"));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("invalid key in {key_path}: {e}"))?
        .ok_or_else(|| format!("no private key found in {key_path}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key mismatch: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// A client config that accepts any server certificate (rtmps:// to servers with
/// self-signed certificates, as RTMP CDNs in tests use). Used only when asked for.
pub fn insecure_client() -> tokio_rustls::TlsConnector {
    client_with(None)
}

/// A client config that accepts only the server certificate whose SHA-256 fingerprint
/// is `fingerprint` (hex, colons and case ignored: what
/// `openssl x509 -fingerprint -sha256` prints), like MediaMTX's `sourceFingerprint`.
pub fn fingerprint_client(fingerprint: &str) -> Result<tokio_rustls::TlsConnector, String> {
    let want = normalize_fingerprint(fingerprint);
    if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "invalid sourceFingerprint '{fingerprint}': expected a SHA-256 fingerprint in hex"
        ));
    }
    Ok(client_with(Some(want)))
}

fn normalize_fingerprint(f: &str) -> String {
    f.chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The SHA-256 fingerprint of a DER certificate, lower-case hex.
pub fn cert_fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `fingerprint`: accept only that certificate; None: accept any.
fn client_with(fingerprint: Option<String>) -> tokio_rustls::TlsConnector {
    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>, Option<String>);
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            if let Some(want) = &self.1 {
                let got = cert_fingerprint(end_entity);
                if &got != want {
                    return Err(rustls::Error::General(format!(
                        "server certificate fingerprint {got} does not match the configured fingerprint (sourceFingerprint or destFingerprint)"
                    )));
                }
            }
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                m,
                c,
                d,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider, fingerprint)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        assert_eq!(
            cert_fingerprint(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(normalize_fingerprint("E3:B0:c4"), "e3b0c4");
        assert!(fingerprint_client("E3:B0").is_err());
        assert!(fingerprint_client(
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        )
        .is_ok());
    }
}
