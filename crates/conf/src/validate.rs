//! Validation of a resolved configuration.

use std::net::IpAddr;

use crate::error::ConfError;
use crate::locate::PathElem;
use crate::schema::{Conf, PathConf};
use crate::types::{AuthAction, AuthMethod, AuthPermission, Encryption, HlsVariant};

/// A one-line message for an invalid regular expression.
pub(crate) fn regex_error(expr: &str, err: &regex::Error) -> String {
    let text = err.to_string();
    let detail = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .trim_start_matches("error: ");
    format!("invalid regular expression \"{expr}\": {detail}")
}

fn key(s: &str) -> PathElem {
    PathElem::Key(s.to_string())
}

fn at(keys: &[&str], msg: impl Into<String>) -> ConfError {
    ConfError::at(keys.iter().map(|k| key(k)).collect(), msg)
}

/// Checks a concrete path name (not a `~regex` configuration name), like MediaMTX.
pub(crate) fn check_path_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("cannot be empty".to_string());
    }
    if name.starts_with('/') {
        return Err("can't begin with a slash".to_string());
    }
    if name.ends_with('/') {
        return Err("can't end with a slash".to_string());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '~' | ':'))
    {
        return Err(
            "can contain only alphanumeric characters, underscore, dot, tilde, minus, slash, colon"
                .to_string(),
        );
    }
    Ok(())
}

/// Parses an IP address or a CIDR network (`10.0.0.0/8`, `::1`, `fe80::/10`).
pub(crate) fn parse_ip_or_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    if s.contains('/') {
        s.parse::<ipnet::IpNet>()
            .map_err(|_| format!("\"{s}\" is not a valid IP address or CIDR network"))
    } else {
        s.parse::<IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| format!("\"{s}\" is not a valid IP address or CIDR network"))
    }
}

/// Checks a listener address such as `:1935`, `0.0.0.0:1935`, `[::]:1935`, `localhost:1935`.
pub fn check_address(addr: &str) -> Result<(), String> {
    let bad = || {
        format!("\"{addr}\" is not a valid listener address: expected [host]:port, e.g. \":1935\" or \"127.0.0.1:1935\"")
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err()
    {
        return Err(bad());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(bad)?;
        let ip_part = inner.split('%').next().unwrap_or(inner);
        ip_part.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        return Ok(());
    }
    if host.contains(':') || host.contains(' ') || host.contains('/') {
        return Err(bad());
    }
    Ok(())
}

fn check_permissions(perms: &[AuthPermission], base: &[PathElem]) -> Result<(), ConfError> {
    for (i, perm) in perms.iter().enumerate() {
        let mut p = base.to_vec();
        p.push(PathElem::Index(i));
        let _action: AuthAction = perm.action.parse().map_err(|_| {
            let mut p = p.clone();
            p.push(key("action"));
            ConfError::at(
                p,
                format!(
                    "invalid action \"{}\": expected one of publish, read, playback, api, metrics, pprof",
                    perm.action
                ),
            )
        })?;
        if let Some(expr) = perm.path.strip_prefix('~') {
            if let Err(e) = regex::Regex::new(expr) {
                p.push(key("path"));
                return Err(ConfError::at(p, regex_error(expr, &e)));
            }
        }
    }
    Ok(())
}

fn check_ip_list(list: &[String], path: Vec<PathElem>) -> Result<(), ConfError> {
    for ip in list {
        parse_ip_or_cidr(ip).map_err(|e| ConfError::at(path.clone(), e))?;
    }
    Ok(())
}

const URL_SCHEMES: &[&str] = &[
    "rtsp://",
    "rtsps://",
    "rtsp+http://",
    "rtsps+http://",
    "rtsp+ws://",
    "rtsps+ws://",
    "rtmp://",
    "rtmps://",
    "http://",
    "https://",
    "udp://",
    "udp+mpegts://",
    "unix+mpegts://",
    "udp+rtp://",
    "srt://",
    "moqt://",
    "whep://",
    "wheps://",
];

/// Whether `source` is a URL that the server pulls from.
pub(crate) fn is_url_source(source: &str) -> bool {
    URL_SCHEMES.iter().any(|s| source.starts_with(s))
}

fn check_path(p: &PathConf, base: &[&str]) -> Result<(), ConfError> {
    let keyed = |k: &str, msg: String| {
        let mut path: Vec<&str> = base.to_vec();
        path.push(k);
        at(&path, msg)
    };
    let is_defaults = base.first() == Some(&"pathDefaults");

    if !is_defaults {
        let name = p.name.as_str();
        if let Some(expr) = name.strip_prefix('~') {
            if let Err(e) = regex::Regex::new(expr) {
                return Err(at(base, regex_error(expr, &e)));
            }
        } else if name != "all" && name != "all_others" {
            if let Err(e) = check_path_name(name) {
                return Err(at(base, format!("invalid path name: {e}")));
            }
        }
    }

    let source = p.source.as_str();
    match source {
        "publisher" | "rpiCamera" => {}
        "redirect" => {
            if p.source_redirect.is_empty() && !is_defaults {
                return Err(keyed(
                    "sourceRedirect",
                    "must be set when source is \"redirect\"".to_string(),
                ));
            }
        }
        s if is_url_source(s) => {}
        s => {
            return Err(keyed(
                "source",
                format!("invalid source \"{s}\": expected \"publisher\", \"redirect\", \"rpiCamera\" or a URL (rtsp://, rtmp://, srt://, http(s)://, whep://, udp+mpegts://, ...)"),
            ));
        }
    }
    let matches_many = p.name.starts_with('~') || p.name == "all" || p.name == "all_others";
    if is_url_source(source) && matches_many && !p.source_on_demand && !is_defaults {
        return Err(keyed(
            "sourceOnDemand",
            "a path with a regular expression (or path \"all\"/\"all_others\") and a URL source must have sourceOnDemand set to yes: each matching path pulls its own copy while someone reads it".to_string(),
        ));
    }
    if p.source_on_demand && source == "publisher" && !is_defaults {
        return Err(keyed(
            "sourceOnDemand",
            "is useless when source is \"publisher\"".to_string(),
        ));
    }
    if p.rtsp_udp_source_port_range.len() != 2
        || p.rtsp_udp_source_port_range[0] > p.rtsp_udp_source_port_range[1]
    {
        return Err(keyed(
            "rtspUDPSourcePortRange",
            "must be two ports, [first, last]".to_string(),
        ));
    }
    for (i, f) in p.forward.iter().enumerate() {
        if f.dest.is_empty() {
            let mut path: Vec<PathElem> = base.iter().map(|k| key(k)).collect();
            path.push(key("forward"));
            path.push(PathElem::Index(i));
            path.push(key("dest"));
            return Err(ConfError::at(path, "cannot be empty"));
        }
    }
    Ok(())
}

pub(crate) fn validate(conf: &Conf) -> Result<(), ConfError> {
    // ---- general
    if conf.write_queue_size == 0 || !conf.write_queue_size.is_power_of_two() {
        return Err(at(&["writeQueueSize"], "must be a power of two"));
    }
    if conf.udp_max_payload_size > 1472 {
        return Err(at(&["udpMaxPayloadSize"], "must be less than 1472"));
    }
    if conf.read_timeout.is_zero() {
        return Err(at(&["readTimeout"], "must be greater than zero"));
    }
    if conf.write_timeout.is_zero() {
        return Err(at(&["writeTimeout"], "must be greater than zero"));
    }

    // ---- authentication
    match conf.auth_method {
        AuthMethod::Internal => {}
        AuthMethod::Http => {
            if conf.auth_http_address.is_empty() {
                return Err(at(
                    &["authHTTPAddress"],
                    "must be set when authMethod is \"http\"",
                ));
            }
            if !conf.auth_http_address.starts_with("http://")
                && !conf.auth_http_address.starts_with("https://")
            {
                return Err(at(&["authHTTPAddress"], "must be a HTTP URL"));
            }
        }
        AuthMethod::Jwt => {
            if conf.auth_jwt_jwks.is_empty() {
                return Err(at(
                    &["authJWTJWKS"],
                    "must be set when authMethod is \"jwt\"",
                ));
            }
        }
    }
    for (i, user) in conf.auth_internal_users.iter().enumerate() {
        let base = vec![key("authInternalUsers"), PathElem::Index(i)];
        let mut ips = base.clone();
        ips.push(key("ips"));
        check_ip_list(&user.ips, ips)?;
        let mut perms = base.clone();
        perms.push(key("permissions"));
        check_permissions(&user.permissions, &perms)?;
    }
    check_permissions(&conf.auth_http_exclude, &[key("authHTTPExclude")])?;
    check_permissions(&conf.auth_jwt_exclude, &[key("authJWTExclude")])?;

    // ---- listeners
    let addresses: [(&str, &str, bool); 20] = [
        ("apiAddress", &conf.api_address, conf.api),
        ("metricsAddress", &conf.metrics_address, conf.metrics),
        ("pprofAddress", &conf.pprof_address, conf.pprof),
        ("playbackAddress", &conf.playback_address, conf.playback),
        ("rtspAddress", &conf.rtsp_address, false),
        ("rtspsAddress", &conf.rtsps_address, false),
        ("rtpAddress", &conf.rtp_address, false),
        ("rtcpAddress", &conf.rtcp_address, false),
        ("srtpAddress", &conf.srtp_address, false),
        ("srtcpAddress", &conf.srtcp_address, false),
        (
            "rtmpAddress",
            &conf.rtmp_address,
            conf.rtmp && conf.rtmp_encryption != Encryption::Strict,
        ),
        (
            "rtmpsAddress",
            &conf.rtmps_address,
            conf.rtmp && conf.rtmp_encryption != Encryption::No,
        ),
        ("hlsAddress", &conf.hls_address, false),
        ("webrtcAddress", &conf.webrtc_address, false),
        (
            "webrtcLocalUDPAddress",
            &conf.webrtc_local_udp_address,
            false,
        ),
        (
            "webrtcLocalTCPAddress",
            &conf.webrtc_local_tcp_address,
            false,
        ),
        ("srtAddress", &conf.srt_address, false),
        ("moqHTTP2Address", &conf.moq_http2_address, false),
        ("moqHTTP3Address", &conf.moq_http3_address, false),
        ("moqQUICAddress", &conf.moq_quic_address, false),
    ];
    for (name, addr, required) in addresses {
        if addr.is_empty() {
            if required {
                return Err(at(&[name], "cannot be empty"));
            }
            continue;
        }
        check_address(addr).map_err(|e| at(&[name], e))?;
    }
    if conf.rtmp && conf.rtmp_encryption != Encryption::No {
        if conf.rtmp_server_key.is_empty() {
            return Err(at(
                &["rtmpServerKey"],
                "must be set when rtmpEncryption is not \"no\"",
            ));
        }
        if conf.rtmp_server_cert.is_empty() {
            return Err(at(
                &["rtmpServerCert"],
                "must be set when rtmpEncryption is not \"no\"",
            ));
        }
    }
    for (name, list) in [
        ("apiTrustedProxies", &conf.api_trusted_proxies),
        ("metricsTrustedProxies", &conf.metrics_trusted_proxies),
        ("pprofTrustedProxies", &conf.pprof_trusted_proxies),
        ("playbackTrustedProxies", &conf.playback_trusted_proxies),
        ("rtspTrustedProxies", &conf.rtsp_trusted_proxies),
        ("rtmpTrustedProxies", &conf.rtmp_trusted_proxies),
        ("hlsTrustedProxies", &conf.hls_trusted_proxies),
        ("webrtcTrustedProxies", &conf.webrtc_trusted_proxies),
        ("moqTrustedProxies", &conf.moq_trusted_proxies),
    ] {
        check_ip_list(list, vec![key(name)])?;
    }
    match conf.multicast_ip_range.parse::<ipnet::IpNet>() {
        Ok(ipnet::IpNet::V4(_)) => {}
        _ => {
            return Err(at(
                &["multicastIPRange"],
                format!(
                    "\"{}\" is not a valid IPv4 CIDR network",
                    conf.multicast_ip_range
                ),
            ))
        }
    }
    if conf.hls_variant == HlsVariant::LowLatency && conf.hls_segment_count < 7 {
        return Err(at(
            &["hlsSegmentCount"],
            "must be at least 7 when hlsVariant is \"lowLatency\"",
        ));
    }

    // ---- paths
    check_path(&conf.path_defaults, &["pathDefaults"])?;
    for (name, p) in &conf.paths {
        check_path(p, &["paths", name])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in [
            ":1935",
            "0.0.0.0:1935",
            "[::]:1935",
            "localhost:80",
            "[fe80::1%eth0]:1",
        ] {
            assert!(check_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1935", ":", ":abc", ":70000", "a b:1", "::1:80", "[::1:80", "host:",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_names() {
        assert!(check_path_name("cam1").is_ok());
        assert!(check_path_name("live/cam-1.x_y:z").is_ok());
        assert!(check_path_name("").is_err());
        assert!(check_path_name("/a").is_err());
        assert!(check_path_name("a/").is_err());
        assert!(check_path_name("a b").is_err());
        assert!(check_path_name("a?b").is_err());
    }
}
