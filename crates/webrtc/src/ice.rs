//! ICE servers for clients (`webrtcICEServers2`), announced in `Link` headers of WHIP/WHEP
//! responses (RFC 9725 4.4, as MediaMTX does) and read by the pages.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::time::{Duration, SystemTime};

/// One STUN or TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, `turns:...`.
    pub url: String,
    pub username: String,
    /// The password, or with username `AUTH_SECRET` the TURN REST API shared secret.
    pub password: String,
}

/// How long credentials derived from a shared secret stay valid.
const SECRET_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl IceServer {
    /// The credentials to give a client now: as configured, or with `AUTH_SECRET` a
    /// time-limited pair (draft-uberti-behave-turn-rest: username `expiry:random`,
    /// password base64(HMAC-SHA1(secret, username))).
    pub fn credentials(&self, now: SystemTime) -> Option<(String, String)> {
        if self.username.is_empty() {
            return None;
        }
        if self.username != "AUTH_SECRET" {
            return Some((self.username.clone(), self.password.clone()));
        }
        let expiry = now
            .checked_add(SECRET_CREDENTIAL_LIFETIME)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let user = format!("{expiry}:{}", uuid::Uuid::new_v4().simple());
        let mut mac = Hmac::<Sha1>::new_from_slice(self.password.as_bytes()).ok()?;
        mac.update(user.as_bytes());
        let pass = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        Some((user, pass))
    }

    /// The `Link` header value announcing this server.
    pub fn link(&self, now: SystemTime) -> String {
        let mut v = format!("<{}>; rel=\"ice-server\"", self.url);
        if let Some((u, p)) = self.credentials(now) {
            v.push_str(&format!(
                "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                quote(&u),
                quote(&p)
            ));
        }
        v
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let stun = IceServer {
            url: "stun:stun.example.org:3478".into(),
            username: String::new(),
            password: String::new(),
        };
        assert_eq!(
            stun.link(now),
            "<stun:stun.example.org:3478>; rel=\"ice-server\""
        );
        let turn = IceServer {
            url: "turn:t.example.org:3478?transport=udp".into(),
            username: "u".into(),
            password: "p\"q".into(),
        };
        assert_eq!(
            turn.link(now),
            "<turn:t.example.org:3478?transport=udp>; rel=\"ice-server\"; username=\"u\"; \
             credential=\"p\\\"q\"; credential-type=\"password\""
        );
        let secret = IceServer {
            url: "turn:t".into(),
            username: "AUTH_SECRET".into(),
            password: "s3cret".into(),
        };
        let (u, p) = secret.credentials(now).unwrap();
        assert!(u.starts_with("87400:"), "{u}");
        // Checked the way a TURN server does: HMAC-SHA1 of the username with the secret.
        let mut mac = Hmac::<Sha1>::new_from_slice(b"s3cret").unwrap();
        mac.update(u.as_bytes());
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(p, want);
    }
}
