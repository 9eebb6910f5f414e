//! Internal authentication (`authMethod: internal`), as MediaMTX does it.

use std::net::IpAddr;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::AuthError;
use crate::schema::Conf;
use crate::types::{AuthAction, AuthInternalUser, AuthMethod, AuthPermission};
use crate::validate::parse_ip_or_cidr;

enum Check {
    Match,
    NoMatch,
    Unsupported,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Compares a stored credential (plain, `sha256:BASE64` or `argon2:...`) with a given one.
fn check_credential(stored: &str, given: &str) -> Check {
    if let Some(hash) = stored.strip_prefix("sha256:") {
        let digest = Sha256::digest(given.as_bytes());
        let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
        if constant_time_eq(encoded.as_bytes(), hash.as_bytes()) {
            Check::Match
        } else {
            Check::NoMatch
        }
    } else if stored.starts_with("argon2:") {
        Check::Unsupported
    } else if constant_time_eq(stored.as_bytes(), given.as_bytes()) {
        Check::Match
    } else {
        Check::NoMatch
    }
}

fn ip_allowed(ips: &[String], ip: IpAddr) -> bool {
    if ips.is_empty() {
        return true;
    }
    let mapped = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    ips.iter()
        .filter_map(|s| parse_ip_or_cidr(s).ok())
        .any(|net| net.contains(&ip) || mapped.is_some_and(|m| net.contains(&m)))
}

fn has_permission(perms: &[AuthPermission], action: AuthAction, path: &str) -> bool {
    perms.iter().any(|perm| {
        if perm.action.parse::<AuthAction>().ok() != Some(action) {
            return false;
        }
        if !action.is_path_action() || perm.path.is_empty() {
            return true;
        }
        match perm.path.strip_prefix('~') {
            // Like MediaMTX (Go's MatchString): the expression is searched in the path.
            Some(expr) => regex::Regex::new(expr).is_ok_and(|re| re.is_match(path)),
            None => perm.path == path,
        }
    })
}

fn is_any(u: &AuthInternalUser) -> bool {
    u.user == "any"
}

pub(crate) fn authenticate(
    conf: &Conf,
    action: AuthAction,
    path: &str,
    user: &str,
    pass: &str,
    ip: IpAddr,
) -> Result<(), AuthError> {
    if conf.auth_method != AuthMethod::Internal {
        return Err(AuthError {
            message: format!(
                "authMethod \"{}\" is not implemented yet, access refused",
                conf.auth_method
            ),
            wrong_credentials: false,
        });
    }

    let credentials_given = !user.is_empty() || !pass.is_empty();
    let mut has_real_users = false;
    let mut credentials_matched = false;
    let mut credentials_would_help = false;
    let mut unsupported_hash = false;

    for u in &conf.auth_internal_users {
        let allowed = ip_allowed(&u.ips, ip) && has_permission(&u.permissions, action, path);
        if is_any(u) {
            if allowed {
                return Ok(());
            }
            continue;
        }
        has_real_users = true;
        if allowed {
            credentials_would_help = true;
        }
        let user_ok = check_credential(&u.user, user);
        let pass_ok = check_credential(&u.pass, pass);
        match (user_ok, pass_ok) {
            (Check::Match, Check::Match) => {
                credentials_matched = true;
                if allowed {
                    return Ok(());
                }
            }
            (Check::Unsupported, _) | (Check::Match, Check::Unsupported) if allowed => {
                unsupported_hash = true;
            }
            _ => {}
        }
    }

    let wrong_credentials = if credentials_given {
        has_real_users && !credentials_matched
    } else {
        credentials_would_help
    };
    let target = if action.is_path_action() {
        format!("{action} on path \"{path}\"")
    } else {
        action.to_string()
    };
    let message = if unsupported_hash {
        format!(
            "authentication failed for {target}: a matching user in authInternalUsers uses argon2-hashed credentials, which are not supported; use plain or \"sha256:\" credentials"
        )
    } else if credentials_given && wrong_credentials {
        format!("authentication failed for {target}: wrong user or password")
    } else if !credentials_given && wrong_credentials {
        format!("authentication failed for {target}: credentials are required")
    } else {
        format!(
            "authentication failed for {target}: no user in authInternalUsers allows it from {ip}"
        )
    };
    Err(AuthError {
        message,
        wrong_credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        // base64(sha256("testpass"))
        let digest = Sha256::digest(b"testpass");
        let stored = format!(
            "sha256:{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        assert!(matches!(
            check_credential(&stored, "testpass"),
            Check::Match
        ));
        assert!(matches!(check_credential(&stored, "nope"), Check::NoMatch));
        assert!(matches!(check_credential("plain", "plain"), Check::Match));
        assert!(matches!(
            check_credential("plain", "plain2"),
            Check::NoMatch
        ));
        assert!(matches!(
            check_credential("argon2:$argon2id$v=19$m=4096,t=3,p=1$x$y", "a"),
            Check::Unsupported
        ));
    }

    #[test]
    fn ips() {
        let list = vec!["10.0.0.0/8".to_string(), "::1".to_string()];
        assert!(ip_allowed(&list, "10.1.2.3".parse().expect("ip")));
        assert!(ip_allowed(&list, "::ffff:10.1.2.3".parse().expect("ip")));
        assert!(ip_allowed(&list, "::1".parse().expect("ip")));
        assert!(!ip_allowed(&list, "11.0.0.1".parse().expect("ip")));
        assert!(ip_allowed(&[], "11.0.0.1".parse().expect("ip")));
    }
}
