//! HTTP concerns shared by every endpoint: credentials, client IP behind trusted proxies,
//! CORS origins.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::Engine;
use ipnet::IpNet;
use serde_json::Value;

/// What the API server takes from the global configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpSettings {
    pub allow_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
}

impl HttpSettings {
    /// Reads `apiAllowOrigins` and `apiTrustedProxies` from `GlobalConf` JSON.
    pub fn from_global(global: &Value) -> HttpSettings {
        let strings = |key: &str| -> Option<Vec<String>> {
            global.get(key)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
        };
        let allow_origins = strings("apiAllowOrigins")
            .or_else(|| {
                global
                    .get("apiAllowOrigin")
                    .and_then(Value::as_str)
                    .map(|s| vec![s.to_string()])
            })
            .unwrap_or_else(|| vec!["*".to_string()]);
        let trusted_proxies = strings("apiTrustedProxies")
            .unwrap_or_default()
            .iter()
            .filter_map(|s| {
                s.parse::<IpNet>()
                    .ok()
                    .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
            })
            .collect();
        HttpSettings {
            allow_origins,
            trusted_proxies,
        }
    }
}

/// Credentials of a request, as MediaMTX reads them: `Authorization: Bearer user:pass`,
/// `Authorization: Bearer <token>` (the token as password), `Authorization: Basic`, then
/// `?user=&pass=`.
pub(crate) fn credentials(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> (String, String) {
    let values: Vec<&str> = headers
        .get_all(AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for v in &values {
        if let Some(rest) = v.strip_prefix("Bearer ") {
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.len() == 2 {
                return (parts[0].to_string(), parts[1].to_string());
            }
            return (String::new(), rest.to_string());
        }
    }
    if let Some(v) = values.first() {
        if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") {
            if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(v[6..].trim()) {
                if let Ok(s) = String::from_utf8(raw) {
                    if let Some((u, p)) = s.split_once(':') {
                        return (u.to_string(), p.to_string());
                    }
                }
            }
        }
    }
    (
        query.get("user").cloned().unwrap_or_default(),
        query.get("pass").cloned().unwrap_or_default(),
    )
}

/// The client's IP: the peer's, or when the peer is a trusted proxy, the one it forwards
/// (`X-Forwarded-For` read right to left past trusted proxies, then `X-Real-IP`).
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return peer;
    }
    if let Some(xff) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        let items: Vec<&str> = xff.split(',').map(str::trim).collect();
        for (i, item) in items.iter().enumerate().rev() {
            let Ok(ip) = item.parse::<IpAddr>() else {
                break;
            };
            let ip = ip.to_canonical();
            if i == 0 || !is_trusted(&ip) {
                return ip;
            }
        }
    }
    if let Some(ip) = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
    {
        return ip.to_canonical();
    }
    peer
}

/// `scheme`, `host`, `port` of an origin or allowed-origin URL, with the scheme's default
/// port filled in.
fn split_origin(s: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':').unwrap_or("");
        (format!("[{h}]"), port.to_string())
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.to_string()),
            None => (authority.to_string(), String::new()),
        }
    };
    let port = if port.is_empty() {
        match scheme {
            "http" => "80".to_string(),
            "https" => "443".to_string(),
            _ => String::new(),
        }
    } else {
        port
    };
    Some((scheme.to_ascii_lowercase(), host.to_ascii_lowercase(), port))
}

/// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed. A literal match
/// (wildcards such as `http://*.example.com` allowed) is echoed; `*` is the last resort.
pub(crate) fn allowed_origin(origin: &str, allow: &[String]) -> Option<String> {
    if allow.is_empty() {
        return None;
    }
    if !origin.is_empty() {
        let (scheme, host, port) = split_origin(origin)?;
        for a in allow {
            let Some((a_scheme, a_host, a_port)) = split_origin(a) else {
                continue;
            };
            if a_scheme != scheme {
                continue;
            }
            if a_host == host && a_port == port {
                return Some(origin.to_string());
            }
            if a_host.contains('*') {
                let host_port = format!("{host}:{port}");
                let a_host_port = format!("{a_host}:{a_port}");
                let mut pattern = String::from("^");
                let mut rest = a_host_port.as_str();
                while !rest.is_empty() {
                    if let Some(r) = rest.strip_prefix("*.") {
                        pattern.push_str(r"(.*\.)?");
                        rest = r;
                    } else if let Some(r) = rest.strip_prefix('*') {
                        pattern.push_str(".*");
                        rest = r;
                    } else {
                        let c = rest.chars().next().unwrap_or_default();
                        pattern.push_str(&regex::escape(&c.to_string()));
                        rest = &rest[c.len_utf8()..];
                    }
                }
                pattern.push('$');
                if regex::Regex::new(&pattern).is_ok_and(|re| re.is_match(&host_port)) {
                    return Some(origin.to_string());
                }
            }
        }
    }
    allow.iter().any(|a| a == "*").then(|| "*".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn origins() {
        assert_eq!(allowed_origin("", &v(&["*"])).as_deref(), Some("*"));
        assert_eq!(
            allowed_origin("http://a.com", &v(&["*"])).as_deref(),
            Some("*")
        );
        assert_eq!(
            allowed_origin("http://a.com", &v(&["http://a.com:80"])).as_deref(),
            Some("http://a.com")
        );
        assert_eq!(allowed_origin("http://b.com", &v(&["http://a.com"])), None);
        assert_eq!(allowed_origin("https://a.com", &v(&["http://a.com"])), None);
        assert_eq!(
            allowed_origin("http://x.y.example.com", &v(&["http://*.example.com"])).as_deref(),
            Some("http://x.y.example.com")
        );
        assert_eq!(
            allowed_origin("http://example.com", &v(&["http://*.example.com"])).as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            allowed_origin("http://exampleXcom", &v(&["http://*.example.com"])),
            None
        );
        assert_eq!(allowed_origin("http://a.com", &[]), None);
    }

    #[test]
    fn creds() {
        let q = HashMap::new();
        let mut h = HeaderMap::new();
        assert_eq!(credentials(&h, &q), (String::new(), String::new()));
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        assert_eq!(credentials(&h, &q), ("user".into(), "pass".into()));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer u:p"));
        assert_eq!(credentials(&h, &q), ("u".into(), "p".into()));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        assert_eq!(credentials(&h, &q), ("".into(), "tok".into()));
        let q: HashMap<String, String> = [("user".into(), "a".into()), ("pass".into(), "b".into())]
            .into_iter()
            .collect();
        assert_eq!(credentials(&HeaderMap::new(), &q), ("a".into(), "b".into()));
    }

    #[test]
    fn forwarded() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.2"),
        );
        assert_eq!(client_ip(peer, &h, &[]), peer);
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(peer, &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        let other: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(client_ip(other, &h, &trusted), other);
    }

    #[test]
    fn settings() {
        let s = HttpSettings::from_global(&serde_json::json!({
            "apiAllowOrigins": ["http://a"],
            "apiTrustedProxies": ["10.0.0.1", "192.168.0.0/16", "bad"],
        }));
        assert_eq!(s.allow_origins, vec!["http://a".to_string()]);
        assert_eq!(s.trusted_proxies.len(), 2);
        let s = HttpSettings::from_global(&serde_json::json!({}));
        assert_eq!(s.allow_origins, vec!["*".to_string()]);
    }
}
