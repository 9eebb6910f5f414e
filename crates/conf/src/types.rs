//! Value types used by the configuration: enums and the small structs found in lists.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::units::de_nullable;

macro_rules! string_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident { $( $(#[$vattr:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $( $(#[$vattr])* $variant ),+ }

        impl $name {
            /// All accepted spellings, in declaration order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The configuration spelling of this value.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }

            fn from_text(s: &str) -> Option<Self> {
                match s { $( $text => Some($name::$variant), )+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::from_text(s).ok_or_else(|| {
                    format!("invalid value \"{}\": expected one of {}", s, quoted_list(Self::ALL))
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "one of {}", quoted_list($name::ALL))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_bool<E: de::Error>(self, v: bool) -> Result<$name, E> {
                        // YAML 1.1 reads an unquoted `no` as a boolean.
                        if !v {
                            if let Some(x) = $name::from_text("no") {
                                return Ok(x);
                            }
                        }
                        Err(E::custom(format!(
                            "invalid value {}: expected one of {}",
                            v,
                            quoted_list($name::ALL)
                        )))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

pub(crate) fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

string_enum! {
    /// `logLevel`.
    pub enum LogLevel { Error => "error", Warn => "warn", Info => "info", Debug => "debug" }
}

string_enum! {
    /// An entry of `logDestinations`.
    pub enum LogDestination { Stdout => "stdout", File => "file", Syslog => "syslog" }
}

string_enum! {
    /// `authMethod`.
    pub enum AuthMethod { Internal => "internal", Http => "http", Jwt => "jwt" }
}

string_enum! {
    /// `rtspEncryption` / `rtmpEncryption`. An unquoted YAML `no` (boolean false) is accepted as `"no"`.
    pub enum Encryption { No => "no", Optional => "optional", Strict => "strict" }
}

string_enum! {
    /// `hlsVariant`.
    pub enum HlsVariant { Mpegts => "mpegts", Fmp4 => "fmp4", LowLatency => "lowLatency" }
}

string_enum! {
    /// An entry of `rtspTransports`.
    pub enum RtspTransport { Udp => "udp", Multicast => "multicast", Tcp => "tcp" }
}

string_enum! {
    /// An entry of `rtspAuthMethods`.
    pub enum RtspAuthMethod { Basic => "basic", Digest => "digest" }
}

string_enum! {
    /// Path `rtspTransport` (how an RTSP source is pulled).
    pub enum RtspSourceTransport {
        Automatic => "automatic", Udp => "udp", Multicast => "multicast", Tcp => "tcp",
    }
}

string_enum! {
    /// Path `rtspRangeType`.
    pub enum RtspRangeType { None => "", Clock => "clock", Npt => "npt", Smpte => "smpte" }
}

string_enum! {
    /// Path `recordFormat`.
    pub enum RecordFormat { Fmp4 => "fmp4", Mpegts => "mpegts" }
}

string_enum! {
    /// An action that a user can be allowed to perform.
    pub enum AuthAction {
        Publish => "publish", Read => "read", Playback => "playback",
        Api => "api", Metrics => "metrics", Pprof => "pprof",
    }
}

impl AuthAction {
    /// Whether permissions for this action can be restricted to paths.
    pub fn is_path_action(self) -> bool {
        matches!(
            self,
            AuthAction::Publish | AuthAction::Read | AuthAction::Playback
        )
    }
}

/// A permission: an action, optionally restricted to a path (`""` = every path,
/// `"~regex"` = paths matching the regular expression).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthPermission {
    #[serde(default, deserialize_with = "de_nullable")]
    pub action: String,
    #[serde(default, deserialize_with = "de_nullable")]
    pub path: String,
}

impl AuthPermission {
    /// Builds a permission.
    pub fn new(action: AuthAction, path: &str) -> Self {
        AuthPermission {
            action: action.as_str().to_string(),
            path: path.to_string(),
        }
    }
}

/// An entry of `authInternalUsers`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthInternalUser {
    /// User name; `any` means any user, including anonymous ones.
    /// May be hashed as `sha256:BASE64`.
    #[serde(default, deserialize_with = "de_nullable")]
    pub user: String,
    /// Password, plain or `sha256:BASE64`; not checked for user `any`.
    #[serde(default, deserialize_with = "de_nullable")]
    pub pass: String,
    /// IPs or CIDR networks allowed to use this user; empty means any IP.
    #[serde(default, deserialize_with = "de_nullable")]
    pub ips: Vec<String>,
    /// What this user may do.
    #[serde(default, deserialize_with = "de_nullable")]
    pub permissions: Vec<AuthPermission>,
}

/// An entry of `webrtcICEServers2`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebRtcIceServer {
    #[serde(default, deserialize_with = "de_nullable")]
    pub url: String,
    #[serde(default, deserialize_with = "de_nullable")]
    pub username: String,
    #[serde(default, deserialize_with = "de_nullable")]
    pub password: String,
    #[serde(rename = "clientOnly", default, deserialize_with = "de_nullable")]
    pub client_only: bool,
}

/// An entry of the path setting `alwaysAvailableTracks`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlwaysAvailableTrack {
    #[serde(default, deserialize_with = "de_nullable")]
    pub codec: String,
    #[serde(rename = "sampleRate", default, deserialize_with = "de_nullable")]
    pub sample_rate: u32,
    #[serde(rename = "channelCount", default, deserialize_with = "de_nullable")]
    pub channel_count: u32,
    #[serde(rename = "muLaw", default, deserialize_with = "de_nullable")]
    pub mu_law: bool,
}

/// An entry of the path setting `forward`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardDest {
    #[serde(default, deserialize_with = "de_nullable")]
    pub dest: String,
    #[serde(rename = "destFingerprint", default, deserialize_with = "de_nullable")]
    pub dest_fingerprint: String,
    #[serde(rename = "whipBearerToken", default, deserialize_with = "de_nullable")]
    pub whip_bearer_token: String,
}
