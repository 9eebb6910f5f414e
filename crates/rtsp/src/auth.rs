//! RTSP authentication (RFC 2617 as RTSP uses it): Basic and Digest (MD5), both sides.

use base64::Engine;
use md5::{Digest as _, Md5};

/// What a server asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        /// `auth` when the server offered it.
        qop: Option<String>,
    },
}

/// The `key=value` parameters of a Digest header (values may be quoted).
pub fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() && out.len() < 32 {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            value = r[..end].to_string();
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

/// The best challenge among a response's `WWW-Authenticate` headers (Digest over Basic).
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut best = None;
    for h in headers {
        let h = h.trim();
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.eq_ignore_ascii_case("digest") {
            let p = params(rest);
            let algorithm = get(&p, "algorithm").unwrap_or("MD5");
            if !algorithm.eq_ignore_ascii_case("md5") {
                continue;
            }
            let (Some(realm), Some(nonce)) = (get(&p, "realm"), get(&p, "nonce")) else {
                continue;
            };
            let qop = get(&p, "qop").and_then(|q| {
                q.split(',')
                    .map(str::trim)
                    .find(|q| q.eq_ignore_ascii_case("auth"))
                    .map(str::to_string)
            });
            return Some(Challenge::Digest {
                realm: realm.to_string(),
                nonce: nonce.to_string(),
                opaque: get(&p, "opaque").map(str::to_string),
                qop,
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            best = Some(Challenge::Basic);
        }
    }
    best
}

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The Digest `response` value.
pub fn digest_response(
    user: &str,
    pass: &str,
    realm: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<(&str, &str, &str)>,
) -> String {
    let ha1 = md5_hex(&[user, realm, pass]);
    let ha2 = md5_hex(&[method, uri]);
    match qop {
        Some((nc, cnonce, qop)) => md5_hex(&[&ha1, nonce, nc, cnonce, qop, &ha2]),
        None => md5_hex(&[&ha1, nonce, &ha2]),
    }
}

/// The `Authorization` header answering `challenge` for one request.
pub fn authorization(
    challenge: &Challenge,
    user: &str,
    pass: &str,
    method: &str,
    uri: &str,
) -> String {
    match challenge {
        Challenge::Basic => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        ),
        Challenge::Digest {
            realm,
            nonce,
            opaque,
            qop,
        } => {
            let mut h = format!(
                "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\""
            );
            match qop {
                Some(q) => {
                    let cnonce = format!("{:08x}", rand_u32(nonce));
                    let nc = "00000001";
                    let r = digest_response(
                        user,
                        pass,
                        realm,
                        nonce,
                        method,
                        uri,
                        Some((nc, &cnonce, q)),
                    );
                    h.push_str(&format!(
                        ", response=\"{r}\", qop={q}, nc={nc}, cnonce=\"{cnonce}\""
                    ));
                }
                None => {
                    let r = digest_response(user, pass, realm, nonce, method, uri, None);
                    h.push_str(&format!(", response=\"{r}\""));
                }
            }
            if let Some(o) = opaque {
                h.push_str(&format!(", opaque=\"{o}\""));
            }
            h
        }
    }
}

fn rand_u32(seed: &str) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(seed.as_bytes());
    h.finish() as u32
}

/// Credentials a request carries in `Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        user: String,
        pass: String,
    },
    Digest {
        user: String,
        params: Vec<(String, String)>,
    },
}

impl Credentials {
    pub fn parse(header: &str) -> Option<Credentials> {
        let h = header.trim();
        let (scheme, rest) = h.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("basic") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let s = String::from_utf8(raw).ok()?;
            let (u, p) = s.split_once(':')?;
            return Some(Credentials::Basic {
                user: u.to_string(),
                pass: p.to_string(),
            });
        }
        if scheme.eq_ignore_ascii_case("digest") {
            let params = params(rest);
            let user = get(&params, "username")?.to_string();
            return Some(Credentials::Digest { user, params });
        }
        None
    }

    pub fn user(&self) -> &str {
        match self {
            Credentials::Basic { user, .. } | Credentials::Digest { user, .. } => user,
        }
    }

    /// Whether Digest credentials prove knowledge of `pass` for our `nonce` and `realm`.
    pub fn digest_matches(&self, pass: &str, realm: &str, nonce: &str, method: &str) -> bool {
        let Credentials::Digest { user, params } = self else {
            return false;
        };
        let (Some(uri), Some(response)) = (get(params, "uri"), get(params, "response")) else {
            return false;
        };
        if get(params, "nonce") != Some(nonce) || get(params, "realm") != Some(realm) {
            return false;
        }
        let qop = match (get(params, "qop"), get(params, "nc"), get(params, "cnonce")) {
            (Some(q), Some(nc), Some(c)) => Some((nc, c, q)),
            _ => None,
        };
        let want = digest_response(user, pass, realm, nonce, method, uri, qop);
        // Constant-time enough for a hex string compare of fixed length.
        want.len() == response.len()
            && want
                .bytes()
                .zip(response.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 3.5 (an HTTP example; the computation is the same).
        let r = digest_response(
            "Mufasa",
            "Circle Of Life",
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "GET",
            "/dir/index.html",
            Some(("00000001", "0a4f113b", "auth")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn challenge_and_answer() {
        let c = parse_challenges([
            "Basic realm=\"x\"",
            "Digest realm=\"IP Camera\", nonce=\"abc,def\", stale=FALSE",
        ])
        .unwrap();
        assert_eq!(
            c,
            Challenge::Digest {
                realm: "IP Camera".into(),
                nonce: "abc,def".into(),
                opaque: None,
                qop: None
            }
        );
        let h = authorization(&c, "admin", "secret", "DESCRIBE", "rtsp://cam/s");
        let creds = Credentials::parse(&h).unwrap();
        assert_eq!(creds.user(), "admin");
        assert!(creds.digest_matches("secret", "IP Camera", "abc,def", "DESCRIBE"));
        assert!(!creds.digest_matches("wrong", "IP Camera", "abc,def", "DESCRIBE"));
        assert!(!creds.digest_matches("secret", "IP Camera", "other", "DESCRIBE"));
        assert_eq!(
            parse_challenges(["Basic realm=\"x\""]),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenges(["Digest algorithm=SHA-256, realm=a, nonce=b"]),
            None
        );
        let b = authorization(&Challenge::Basic, "u", "p", "DESCRIBE", "rtsp://x");
        assert_eq!(
            Credentials::parse(&b),
            Some(Credentials::Basic {
                user: "u".into(),
                pass: "p".into()
            })
        );
        // Garbage does not panic.
        for s in [
            "",
            "Digest",
            "Digest ===,,\"",
            "Basic !!!",
            "Digest username",
        ] {
            let _ = Credentials::parse(s);
            let _ = parse_challenges([s]);
        }
    }
}
