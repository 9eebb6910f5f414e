//! The configuration schema: every global key and every path key of MediaMTX,
//! with its type and default value.
//!
//! Each section is declared once with [`conf_schema!`], which generates:
//! * the resolved struct (`Conf` / `PathConf`) with public snake_case fields,
//!   serialized with MediaMTX's camelCase names (the API's `GlobalConf` / `PathConf` shapes);
//! * its `Default` impl, holding MediaMTX's defaults;
//! * a crate-private "optional" twin where every field is an `Option`, used to read
//!   `mediamtx.yml` and API bodies strictly (unknown keys are errors) and to keep
//!   track of which keys a file or a path sets itself;
//! * the list of keys.

use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::types::*;
#[allow(unused_imports)]
use crate::units::{de_opt_duration, de_opt_plain, de_opt_size, ser_duration, ser_plain, ser_size};

macro_rules! conf_schema {
    (
        $(#[$sattr:meta])*
        pub struct $name:ident;
        optional $opt:ident;
        keys $keys:ident;
        front { $($front:tt)* }
        front_default { $($front_default:tt)* }
        back { $($back:tt)* }
        back_default { $($back_default:tt)* }
        opt_back { $($opt_back:tt)* }
        fields {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr ; $key:literal, $ser:literal, $de:literal;
            )*
        }
        deprecated {
            $( $dfield:ident : $dkey:literal; )*
        }
    ) => {
        $(#[$sattr])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct $name {
            $($front)*
            $(
                $(#[doc = $doc])*
                #[doc = concat!("\n\nKey: `", $key, "`.")]
                #[serde(rename = $key, serialize_with = $ser)]
                pub $field: $ty,
            )*
            $($back)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($front_default)*
                    $( $field: $default, )*
                    $($back_default)*
                }
            }
        }

        /// Every key of this section, with the value each one sets (or `None`).
        #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $opt {
            $(
                #[serde(rename = $key, default, deserialize_with = $de)]
                pub(crate) $field: Option<$ty>,
            )*
            $(
                #[serde(rename = $dkey, default)]
                pub(crate) $dfield: Option<serde_json::Value>,
            )*
            $($opt_back)*
        }

        /// Keys of this section, in file order.
        pub const $keys: &[&str] = &[$($key),*];

        impl $opt {
            /// Copies every set value into `target`.
            pub(crate) fn apply_to(&self, target: &mut $name) {
                $( if let Some(v) = &self.$field { target.$field = v.clone(); } )*
            }

            /// Values set in `other` override the ones of `self`.
            #[allow(dead_code)]
            pub(crate) fn merge_from(&mut self, other: &$opt) {
                $( if other.$field.is_some() { self.$field = other.$field.clone(); } )*
            }

            /// Keys that are set (to a non-null value).
            pub(crate) fn set_keys(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$field.is_some() { out.push($key); } )*
                out
            }

            /// Deprecated keys that are set (to a non-null value).
            #[allow(dead_code)]
            pub(crate) fn deprecated_set(&self) -> Vec<(&'static str, &serde_json::Value)> {
                #[allow(unused_mut)]
                let mut out = Vec::new();
                $( if let Some(v) = &self.$dfield { if !v.is_null() { out.push(($dkey, v)); } } )*
                out
            }

            /// Forgets every deprecated key.
            #[allow(dead_code)]
            pub(crate) fn clear_deprecated(&mut self) {
                $( self.$dfield = None; )*
            }
        }
    };
}

fn s(v: &str) -> String {
    v.to_string()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn secs(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// MediaMTX's default `authInternalUsers`: anyone may publish, read and play back;
/// API, metrics and pprof are open to localhost only.
pub fn default_auth_internal_users() -> Vec<AuthInternalUser> {
    vec![
        AuthInternalUser {
            user: s("any"),
            pass: String::new(),
            ips: Vec::new(),
            permissions: vec![
                AuthPermission::new(AuthAction::Publish, ""),
                AuthPermission::new(AuthAction::Read, ""),
                AuthPermission::new(AuthAction::Playback, ""),
            ],
        },
        AuthInternalUser {
            user: s("any"),
            pass: String::new(),
            ips: strings(&["127.0.0.1", "::1"]),
            permissions: vec![
                AuthPermission::new(AuthAction::Api, ""),
                AuthPermission::new(AuthAction::Metrics, ""),
                AuthPermission::new(AuthAction::Pprof, ""),
            ],
        },
    ]
}

conf_schema! {
    /// The whole configuration, with every global key of `mediamtx.yml`.
    ///
    /// `path_defaults` and `paths` are not part of the serialized form: serializing a
    /// `Conf` gives the API's `GlobalConf` object.
    pub struct Conf;
    optional OptionalGlobal;
    keys GLOBAL_KEYS;
    front {}
    front_default {}
    back {
        /// `pathDefaults`: settings applied to every path unless the path overrides them.
        #[serde(skip)]
        pub path_defaults: PathConf,
        /// `paths`, fully resolved (`pathDefaults` merged with each path's own keys),
        /// in file order. `PathConf::name` is the map key.
        #[serde(skip)]
        pub paths: IndexMap<String, PathConf>,
        /// The keys each path sets itself, in file order (same keys as `paths`).
        #[serde(skip)]
        pub(crate) path_own: IndexMap<String, OptionalPathConf>,
    }
    back_default {
        path_defaults: PathConf::default(),
        paths: IndexMap::new(),
        path_own: IndexMap::new(),
    }
    opt_back {
        #[serde(rename = "pathDefaults", default)]
        pub(crate) path_defaults: Option<OptionalPathConf>,
        #[serde(default)]
        pub(crate) paths: Option<IndexMap<String, Option<OptionalPathConf>>>,
    }
    fields {
        // ---- general
        /// Log verbosity.
        log_level: LogLevel = LogLevel::Info; "logLevel", "ser_plain", "de_opt_plain";
        /// Where logs go.
        log_destinations: Vec<LogDestination> = vec![LogDestination::Stdout]; "logDestinations", "ser_plain", "de_opt_plain";
        /// Structured (JSON lines) logs.
        log_structured: bool = false; "logStructured", "ser_plain", "de_opt_plain";
        /// Log file, when `file` is a destination.
        log_file: String = s("mediamtx.log"); "logFile", "ser_plain", "de_opt_plain";
        /// Syslog prefix, when `syslog` is a destination.
        sys_log_prefix: String = s("mediamtx"); "sysLogPrefix", "ser_plain", "de_opt_plain";
        /// Dump packets to disk.
        dump_packets: bool = false; "dumpPackets", "ser_plain", "de_opt_plain";
        /// Timeout of read operations.
        read_timeout: Duration = secs(10); "readTimeout", "ser_duration", "de_opt_duration";
        /// Timeout of write operations.
        write_timeout: Duration = secs(10); "writeTimeout", "ser_duration", "de_opt_duration";
        /// Size of the queue of outgoing packets of each reader (a power of two).
        write_queue_size: usize = 512; "writeQueueSize", "ser_plain", "de_opt_plain";
        /// Maximum size of outgoing UDP payloads.
        udp_max_payload_size: usize = 1452; "udpMaxPayloadSize", "ser_plain", "de_opt_plain";
        /// Read buffer size of UDP sockets (0 = system default).
        udp_read_buffer_size: u64 = 0; "udpReadBufferSize", "ser_plain", "de_opt_plain";
        /// Command run when a client connects.
        run_on_connect: String = String::new(); "runOnConnect", "ser_plain", "de_opt_plain";
        /// Restart `runOnConnect` when it exits.
        run_on_connect_restart: bool = false; "runOnConnectRestart", "ser_plain", "de_opt_plain";
        /// Command run when a client disconnects.
        run_on_disconnect: String = String::new(); "runOnDisconnect", "ser_plain", "de_opt_plain";

        // ---- authentication
        /// Authentication method.
        auth_method: AuthMethod = AuthMethod::Internal; "authMethod", "ser_plain", "de_opt_plain";
        /// Users of the internal authentication method.
        auth_internal_users: Vec<AuthInternalUser> = default_auth_internal_users(); "authInternalUsers", "ser_plain", "de_opt_plain";
        /// URL of the external HTTP authentication server.
        auth_http_address: String = String::new(); "authHTTPAddress", "ser_plain", "de_opt_plain";
        /// Certificate fingerprint of the HTTP authentication server.
        auth_http_fingerprint: String = String::new(); "authHTTPFingerprint", "ser_plain", "de_opt_plain";
        /// Actions excluded from HTTP authentication.
        auth_http_exclude: Vec<AuthPermission> = Vec::new(); "authHTTPExclude", "ser_plain", "de_opt_plain";
        /// JWKS URL of the JWT authentication method.
        auth_jwt_jwks: String = String::new(); "authJWTJWKS", "ser_plain", "de_opt_plain";
        /// Certificate fingerprint of the JWKS server.
        auth_jwt_jwks_fingerprint: String = String::new(); "authJWTJWKSFingerprint", "ser_plain", "de_opt_plain";
        /// JWT claim holding the permissions.
        auth_jwt_claim_key: String = s("mediamtx_permissions"); "authJWTClaimKey", "ser_plain", "de_opt_plain";
        /// Actions excluded from JWT authentication.
        auth_jwt_exclude: Vec<AuthPermission> = Vec::new(); "authJWTExclude", "ser_plain", "de_opt_plain";
        /// Expected JWT issuer.
        auth_jwt_issuer: String = String::new(); "authJWTIssuer", "ser_plain", "de_opt_plain";
        /// Expected JWT audience.
        auth_jwt_audience: String = String::new(); "authJWTAudience", "ser_plain", "de_opt_plain";

        // ---- control API
        /// Enable the control API.
        api: bool = false; "api", "ser_plain", "de_opt_plain";
        /// Listener of the control API.
        api_address: String = s(":9997"); "apiAddress", "ser_plain", "de_opt_plain";
        /// Serve the API over HTTPS.
        api_encryption: bool = false; "apiEncryption", "ser_plain", "de_opt_plain";
        /// TLS key of the API.
        api_server_key: String = s("server.key"); "apiServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the API.
        api_server_cert: String = s("server.crt"); "apiServerCert", "ser_plain", "de_opt_plain";
        /// Allowed CORS origins of the API.
        api_allow_origins: Vec<String> = strings(&["*"]); "apiAllowOrigins", "ser_plain", "de_opt_plain";
        /// Trusted proxies in front of the API.
        api_trusted_proxies: Vec<String> = Vec::new(); "apiTrustedProxies", "ser_plain", "de_opt_plain";

        // ---- metrics
        /// Enable the metrics server.
        metrics: bool = false; "metrics", "ser_plain", "de_opt_plain";
        /// Listener of the metrics server.
        metrics_address: String = s(":9998"); "metricsAddress", "ser_plain", "de_opt_plain";
        /// Serve metrics over HTTPS.
        metrics_encryption: bool = false; "metricsEncryption", "ser_plain", "de_opt_plain";
        /// TLS key of the metrics server.
        metrics_server_key: String = s("server.key"); "metricsServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the metrics server.
        metrics_server_cert: String = s("server.crt"); "metricsServerCert", "ser_plain", "de_opt_plain";
        /// Allowed CORS origins of the metrics server.
        metrics_allow_origins: Vec<String> = strings(&["*"]); "metricsAllowOrigins", "ser_plain", "de_opt_plain";
        /// Trusted proxies in front of the metrics server.
        metrics_trusted_proxies: Vec<String> = Vec::new(); "metricsTrustedProxies", "ser_plain", "de_opt_plain";

        // ---- pprof
        /// Enable the pprof server.
        pprof: bool = false; "pprof", "ser_plain", "de_opt_plain";
        /// Listener of the pprof server.
        pprof_address: String = s(":9999"); "pprofAddress", "ser_plain", "de_opt_plain";
        /// Serve pprof over HTTPS.
        pprof_encryption: bool = false; "pprofEncryption", "ser_plain", "de_opt_plain";
        /// TLS key of the pprof server.
        pprof_server_key: String = s("server.key"); "pprofServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the pprof server.
        pprof_server_cert: String = s("server.crt"); "pprofServerCert", "ser_plain", "de_opt_plain";
        /// Allowed CORS origins of the pprof server.
        pprof_allow_origins: Vec<String> = strings(&["*"]); "pprofAllowOrigins", "ser_plain", "de_opt_plain";
        /// Trusted proxies in front of the pprof server.
        pprof_trusted_proxies: Vec<String> = Vec::new(); "pprofTrustedProxies", "ser_plain", "de_opt_plain";

        // ---- playback
        /// Enable the playback server.
        playback: bool = false; "playback", "ser_plain", "de_opt_plain";
        /// Listener of the playback server.
        playback_address: String = s(":9996"); "playbackAddress", "ser_plain", "de_opt_plain";
        /// Serve playback over HTTPS.
        playback_encryption: bool = false; "playbackEncryption", "ser_plain", "de_opt_plain";
        /// TLS key of the playback server.
        playback_server_key: String = s("server.key"); "playbackServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the playback server.
        playback_server_cert: String = s("server.crt"); "playbackServerCert", "ser_plain", "de_opt_plain";
        /// Allowed CORS origins of the playback server.
        playback_allow_origins: Vec<String> = strings(&["*"]); "playbackAllowOrigins", "ser_plain", "de_opt_plain";
        /// Trusted proxies in front of the playback server.
        playback_trusted_proxies: Vec<String> = Vec::new(); "playbackTrustedProxies", "ser_plain", "de_opt_plain";

        // ---- RTSP
        /// Enable the RTSP server.
        rtsp: bool = true; "rtsp", "ser_plain", "de_opt_plain";
        /// Enabled RTSP transports.
        rtsp_transports: Vec<RtspTransport> = vec![RtspTransport::Udp, RtspTransport::Multicast, RtspTransport::Tcp]; "rtspTransports", "ser_plain", "de_opt_plain";
        /// RTSPS / SRTP usage.
        rtsp_encryption: Encryption = Encryption::No; "rtspEncryption", "ser_plain", "de_opt_plain";
        /// RTSP listener.
        rtsp_address: String = s(":8554"); "rtspAddress", "ser_plain", "de_opt_plain";
        /// RTSPS listener.
        rtsps_address: String = s(":8322"); "rtspsAddress", "ser_plain", "de_opt_plain";
        /// UDP/RTP listener.
        rtp_address: String = s(":8000"); "rtpAddress", "ser_plain", "de_opt_plain";
        /// UDP/RTCP listener.
        rtcp_address: String = s(":8001"); "rtcpAddress", "ser_plain", "de_opt_plain";
        /// Multicast IP range.
        multicast_ip_range: String = s("224.1.0.0/16"); "multicastIPRange", "ser_plain", "de_opt_plain";
        /// Multicast RTP port.
        multicast_rtp_port: u16 = 8002; "multicastRTPPort", "ser_plain", "de_opt_plain";
        /// Multicast RTCP port.
        multicast_rtcp_port: u16 = 8003; "multicastRTCPPort", "ser_plain", "de_opt_plain";
        /// UDP/SRTP listener.
        srtp_address: String = s(":8004"); "srtpAddress", "ser_plain", "de_opt_plain";
        /// UDP/SRTCP listener.
        srtcp_address: String = s(":8005"); "srtcpAddress", "ser_plain", "de_opt_plain";
        /// Multicast SRTP port.
        multicast_srtp_port: u16 = 8006; "multicastSRTPPort", "ser_plain", "de_opt_plain";
        /// Multicast SRTCP port.
        multicast_srtcp_port: u16 = 8007; "multicastSRTCPPort", "ser_plain", "de_opt_plain";
        /// TLS key of the RTSPS server.
        rtsp_server_key: String = s("server.key"); "rtspServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the RTSPS server.
        rtsp_server_cert: String = s("server.crt"); "rtspServerCert", "ser_plain", "de_opt_plain";
        /// RTSP authentication methods.
        rtsp_auth_methods: Vec<RtspAuthMethod> = vec![RtspAuthMethod::Basic]; "rtspAuthMethods", "ser_plain", "de_opt_plain";
        /// Trusted proxies (PROXY protocol) in front of the RTSP server.
        rtsp_trusted_proxies: Vec<String> = Vec::new(); "rtspTrustedProxies", "ser_plain", "de_opt_plain";

        // ---- RTMP
        /// Enable the RTMP server.
        rtmp: bool = true; "rtmp", "ser_plain", "de_opt_plain";
        /// RTMPS usage: `no` (RTMP only), `optional` (both), `strict` (RTMPS only).
        rtmp_encryption: Encryption = Encryption::No; "rtmpEncryption", "ser_plain", "de_opt_plain";
        /// RTMP listener.
        rtmp_address: String = s(":1935"); "rtmpAddress", "ser_plain", "de_opt_plain";
        /// RTMPS listener.
        rtmps_address: String = s(":1936"); "rtmpsAddress", "ser_plain", "de_opt_plain";
        /// TLS key of the RTMPS server.
        rtmp_server_key: String = s("server.key"); "rtmpServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the RTMPS server.
        rtmp_server_cert: String = s("server.crt"); "rtmpServerCert", "ser_plain", "de_opt_plain";
        /// Trusted proxies (PROXY protocol) in front of the RTMP server.
        rtmp_trusted_proxies: Vec<String> = Vec::new(); "rtmpTrustedProxies", "ser_plain", "de_opt_plain";

        // ---- HLS
        /// Enable the HLS server.
        hls: bool = true; "hls", "ser_plain", "de_opt_plain";
        /// HLS listener.
        hls_address: String = s(":8888"); "hlsAddress", "ser_plain", "de_opt_plain";
        /// Serve HLS over HTTPS.
        hls_encryption: bool = false; "hlsEncryption", "ser_plain", "de_opt_plain";
        /// TLS key of the HLS server.
        hls_server_key: String = s("server.key"); "hlsServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the HLS server.
        hls_server_cert: String = s("server.crt"); "hlsServerCert", "ser_plain", "de_opt_plain";
        /// Allowed CORS origins of the HLS server.
        hls_allow_origins: Vec<String> = strings(&["*"]); "hlsAllowOrigins", "ser_plain", "de_opt_plain";
        /// Trusted proxies in front of the HLS server.
        hls_trusted_proxies: Vec<String> = Vec::new(); "hlsTrustedProxies", "ser_plain", "de_opt_plain";
        /// Always generate HLS, not only on request.
        hls_always_remux: bool = false; "hlsAlwaysRemux", "ser_plain", "de_opt_plain";
        /// HLS variant.
        hls_variant: HlsVariant = HlsVariant::LowLatency; "hlsVariant", "ser_plain", "de_opt_plain";
        /// Number of segments kept.
        hls_segment_count: usize = 7; "hlsSegmentCount", "ser_plain", "de_opt_plain";
        /// Minimum segment duration.
        hls_segment_duration: Duration = secs(1); "hlsSegmentDuration", "ser_duration", "de_opt_duration";
        /// Minimum part duration.
        hls_part_duration: Duration = Duration::from_millis(200); "hlsPartDuration", "ser_duration", "de_opt_duration";
        /// Maximum segment size, in bytes.
        hls_segment_max_size: u64 = 50 << 20; "hlsSegmentMaxSize", "ser_size", "de_opt_size";
        /// Directory where segments are written (empty = memory).
        hls_directory: String = String::new(); "hlsDirectory", "ser_plain", "de_opt_plain";
        /// Close a muxer after this long without requests.
        hls_muxer_close_after: Duration = secs(60); "hlsMuxerCloseAfter", "ser_duration", "de_opt_duration";
        /// Secret identifying CDN requests.
        hls_cdn_secret: String = String::new(); "hlsCDNSecret", "ser_plain", "de_opt_plain";

        // ---- WebRTC
        /// Enable the WebRTC server.
        webrtc: bool = true; "webrtc", "ser_plain", "de_opt_plain";
        /// WebRTC HTTP listener.
        webrtc_address: String = s(":8889"); "webrtcAddress", "ser_plain", "de_opt_plain";
        /// Serve the WebRTC handshake over HTTPS.
        webrtc_encryption: bool = false; "webrtcEncryption", "ser_plain", "de_opt_plain";
        /// TLS key of the WebRTC server.
        webrtc_server_key: String = s("server.key"); "webrtcServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the WebRTC server.
        webrtc_server_cert: String = s("server.crt"); "webrtcServerCert", "ser_plain", "de_opt_plain";
        /// Allowed CORS origins of the WebRTC server.
        webrtc_allow_origins: Vec<String> = strings(&["*"]); "webrtcAllowOrigins", "ser_plain", "de_opt_plain";
        /// Trusted proxies in front of the WebRTC server.
        webrtc_trusted_proxies: Vec<String> = Vec::new(); "webrtcTrustedProxies", "ser_plain", "de_opt_plain";
        /// UDP/ICE listener (empty = disabled).
        webrtc_local_udp_address: String = s(":8189"); "webrtcLocalUDPAddress", "ser_plain", "de_opt_plain";
        /// TCP/ICE listener (empty = disabled).
        webrtc_local_tcp_address: String = String::new(); "webrtcLocalTCPAddress", "ser_plain", "de_opt_plain";
        /// Advertise the IPs of the interfaces.
        webrtc_ips_from_interfaces: bool = true; "webrtcIPsFromInterfaces", "ser_plain", "de_opt_plain";
        /// Interfaces whose IPs are advertised (empty = all).
        webrtc_ips_from_interfaces_list: Vec<String> = Vec::new(); "webrtcIPsFromInterfacesList", "ser_plain", "de_opt_plain";
        /// Additional advertised hosts.
        webrtc_additional_hosts: Vec<String> = Vec::new(); "webrtcAdditionalHosts", "ser_plain", "de_opt_plain";
        /// ICE servers.
        webrtc_ice_servers2: Vec<WebRtcIceServer> = Vec::new(); "webrtcICEServers2", "ser_plain", "de_opt_plain";
        /// Maximum time to gather STUN candidates.
        webrtc_stun_gather_timeout: Duration = secs(5); "webrtcSTUNGatherTimeout", "ser_duration", "de_opt_duration";
        /// WebRTC handshake timeout.
        webrtc_handshake_timeout: Duration = secs(10); "webrtcHandshakeTimeout", "ser_duration", "de_opt_duration";
        /// Maximum time to gather tracks.
        webrtc_track_gather_timeout: Duration = secs(2); "webrtcTrackGatherTimeout", "ser_duration", "de_opt_duration";

        // ---- SRT
        /// Enable the SRT server.
        srt: bool = true; "srt", "ser_plain", "de_opt_plain";
        /// SRT listener.
        srt_address: String = s(":8890"); "srtAddress", "ser_plain", "de_opt_plain";

        // ---- MoQ
        /// Enable the MoQ server.
        moq: bool = true; "moq", "ser_plain", "de_opt_plain";
        /// MoQ HTTP/2 listener.
        moq_http2_address: String = s(":8892"); "moqHTTP2Address", "ser_plain", "de_opt_plain";
        /// MoQ HTTP/3 listener.
        moq_http3_address: String = s(":8892"); "moqHTTP3Address", "ser_plain", "de_opt_plain";
        /// MoQ QUIC listener.
        moq_quic_address: String = s(":8893"); "moqQUICAddress", "ser_plain", "de_opt_plain";
        /// TLS key of the MoQ server.
        moq_server_key: String = s("auto.key"); "moqServerKey", "ser_plain", "de_opt_plain";
        /// TLS certificate of the MoQ server.
        moq_server_cert: String = s("auto.crt"); "moqServerCert", "ser_plain", "de_opt_plain";
        /// Allowed CORS origins of the MoQ server.
        moq_allow_origins: Vec<String> = strings(&["*"]); "moqAllowOrigins", "ser_plain", "de_opt_plain";
        /// Trusted proxies in front of the MoQ server.
        moq_trusted_proxies: Vec<String> = Vec::new(); "moqTrustedProxies", "ser_plain", "de_opt_plain";
    }
    deprecated {
        dep_api_allow_origin: "apiAllowOrigin";
        dep_auth_jwt_in_http_query: "authJWTInHTTPQuery";
        dep_auth_methods: "authMethods";
        dep_encryption: "encryption";
        dep_external_authentication_url: "externalAuthenticationURL";
        dep_hls_allow_origin: "hlsAllowOrigin";
        dep_hls_disable: "hlsDisable";
        dep_metrics_allow_origin: "metricsAllowOrigin";
        dep_moq_https2_address: "moqHTTPS2Address";
        dep_moq_https3_address: "moqHTTPS3Address";
        dep_playback_allow_origin: "playbackAllowOrigin";
        dep_pprof_allow_origin: "pprofAllowOrigin";
        dep_protocols: "protocols";
        dep_read_buffer_count: "readBufferCount";
        dep_record: "record";
        dep_record_delete_after: "recordDeleteAfter";
        dep_record_format: "recordFormat";
        dep_record_part_duration: "recordPartDuration";
        dep_record_path: "recordPath";
        dep_record_segment_duration: "recordSegmentDuration";
        dep_rtmp_disable: "rtmpDisable";
        dep_rtsp_disable: "rtspDisable";
        dep_rtsp_udp_read_buffer_size: "rtspUDPReadBufferSize";
        dep_webrtc_allow_origin: "webrtcAllowOrigin";
        dep_webrtc_disable: "webrtcDisable";
        dep_webrtc_ice_host_nat1to1_ips: "webrtcICEHostNAT1To1IPs";
        dep_webrtc_ice_servers: "webrtcICEServers";
        dep_webrtc_ice_tcp_mux_address: "webrtcICETCPMuxAddress";
        dep_webrtc_ice_udp_mux_address: "webrtcICEUDPMuxAddress";
    }
}

conf_schema! {
    /// The settings of one path (or of `pathDefaults`), with every path key of `mediamtx.yml`.
    pub struct PathConf;
    optional OptionalPathConf;
    keys PATH_KEYS;
    front {
        /// Name of the path: its key under `paths` (empty for `pathDefaults`).
        pub name: String,
    }
    front_default {
        name: String::new(),
    }
    back {}
    back_default {}
    opt_back {
        /// Accepted and ignored: the name comes from the map key or the URL.
        #[serde(default)]
        pub(crate) name: Option<serde_json::Value>,
    }
    fields {
        // ---- general
        /// Source of the stream: `publisher`, a URL, `redirect` or `rpiCamera`.
        source: String = s("publisher"); "source", "ser_plain", "de_opt_plain";
        /// Certificate fingerprint of a TLS source.
        source_fingerprint: String = String::new(); "sourceFingerprint", "ser_plain", "de_opt_plain";
        /// Pull the source only while someone reads.
        source_on_demand: bool = false; "sourceOnDemand", "ser_plain", "de_opt_plain";
        /// How long readers wait for an on-demand source.
        source_on_demand_start_timeout: Duration = secs(10); "sourceOnDemandStartTimeout", "ser_duration", "de_opt_duration";
        /// Close an on-demand source after this long without readers.
        source_on_demand_close_after: Duration = secs(10); "sourceOnDemandCloseAfter", "ser_duration", "de_opt_duration";
        /// Maximum number of readers (0 = unlimited).
        max_readers: usize = 0; "maxReaders", "ser_plain", "de_opt_plain";
        /// SRT passphrase required to read.
        srt_read_passphrase: String = String::new(); "srtReadPassphrase", "ser_plain", "de_opt_plain";
        /// Keep the timestamps of the source.
        use_absolute_timestamp: bool = false; "useAbsoluteTimestamp", "ser_plain", "de_opt_plain";

        // ---- always available
        /// Play an offline segment while the stream is not available.
        always_available: bool = false; "alwaysAvailable", "ser_plain", "de_opt_plain";
        /// Tracks of the offline segment.
        always_available_tracks: Vec<AlwaysAvailableTrack> = Vec::new(); "alwaysAvailableTracks", "ser_plain", "de_opt_plain";
        /// MP4 file used as offline segment.
        always_available_file: String = String::new(); "alwaysAvailableFile", "ser_plain", "de_opt_plain";

        // ---- forward
        /// Destinations the stream is forwarded to.
        forward: Vec<ForwardDest> = Vec::new(); "forward", "ser_plain", "de_opt_plain";

        // ---- record
        /// Record the stream to disk.
        record: bool = false; "record", "ser_plain", "de_opt_plain";
        /// Path of recording segments.
        record_path: String = s("./recordings/%path/%Y-%m-%d_%H-%M-%S-%f"); "recordPath", "ser_plain", "de_opt_plain";
        /// Format of recording segments.
        record_format: RecordFormat = RecordFormat::Fmp4; "recordFormat", "ser_plain", "de_opt_plain";
        /// Duration of recording parts.
        record_part_duration: Duration = secs(1); "recordPartDuration", "ser_duration", "de_opt_duration";
        /// Maximum size of a recording part, in bytes.
        record_max_part_size: u64 = 50 << 20; "recordMaxPartSize", "ser_size", "de_opt_size";
        /// Minimum duration of recording segments.
        record_segment_duration: Duration = secs(3600); "recordSegmentDuration", "ser_duration", "de_opt_duration";
        /// Delete segments older than this (0 = never).
        record_delete_after: Duration = secs(86400); "recordDeleteAfter", "ser_duration", "de_opt_duration";

        // ---- publisher source
        /// Let a new publisher replace the current one.
        override_publisher: bool = true; "overridePublisher", "ser_plain", "de_opt_plain";
        /// SRT passphrase required to publish.
        srt_publish_passphrase: String = String::new(); "srtPublishPassphrase", "ser_plain", "de_opt_plain";
        /// Demux MPEG-TS carried over RTSP.
        rtsp_demux_mpegts: bool = false; "rtspDemuxMpegts", "ser_plain", "de_opt_plain";

        // ---- RTSP source
        /// Transport used to pull an RTSP source.
        rtsp_transport: RtspSourceTransport = RtspSourceTransport::Automatic; "rtspTransport", "ser_plain", "de_opt_plain";
        /// Accept any server port from RTSP sources.
        rtsp_any_port: bool = false; "rtspAnyPort", "ser_plain", "de_opt_plain";
        /// Range header type sent to RTSP sources.
        rtsp_range_type: RtspRangeType = RtspRangeType::None; "rtspRangeType", "ser_plain", "de_opt_plain";
        /// Range start sent to RTSP sources.
        rtsp_range_start: String = String::new(); "rtspRangeStart", "ser_plain", "de_opt_plain";
        /// Scale header sent to RTSP sources.
        rtsp_scale: String = String::new(); "rtspScale", "ser_plain", "de_opt_plain";
        /// Range of local UDP ports used when pulling RTSP sources.
        rtsp_udp_source_port_range: Vec<u16> = vec![32768, 60999]; "rtspUDPSourcePortRange", "ser_plain", "de_opt_plain";

        // ---- RTP source
        /// SDP of an RTP source.
        rtp_sdp: String = String::new(); "rtpSDP", "ser_plain", "de_opt_plain";

        // ---- MoQ source
        /// Transport used to pull a MoQ source.
        moq_transport: String = s("quic"); "moqTransport", "ser_plain", "de_opt_plain";

        // ---- WHEP source
        /// Bearer token sent to WHEP sources.
        whep_bearer_token: String = String::new(); "whepBearerToken", "ser_plain", "de_opt_plain";
        /// Maximum time to gather STUN candidates.
        whep_stun_gather_timeout: Duration = secs(5); "whepSTUNGatherTimeout", "ser_duration", "de_opt_duration";
        /// WHEP handshake timeout.
        whep_handshake_timeout: Duration = secs(10); "whepHandshakeTimeout", "ser_duration", "de_opt_duration";
        /// Maximum time to gather tracks.
        whep_track_gather_timeout: Duration = secs(2); "whepTrackGatherTimeout", "ser_duration", "de_opt_duration";

        // ---- redirect source
        /// Where clients are redirected when the source is `redirect`.
        source_redirect: String = String::new(); "sourceRedirect", "ser_plain", "de_opt_plain";

        // ---- Raspberry Pi camera source
        rpi_camera_cam_id: u32 = 0; "rpiCameraCamID", "ser_plain", "de_opt_plain";
        rpi_camera_secondary: bool = false; "rpiCameraSecondary", "ser_plain", "de_opt_plain";
        rpi_camera_width: u32 = 1920; "rpiCameraWidth", "ser_plain", "de_opt_plain";
        rpi_camera_height: u32 = 1080; "rpiCameraHeight", "ser_plain", "de_opt_plain";
        rpi_camera_h_flip: bool = false; "rpiCameraHFlip", "ser_plain", "de_opt_plain";
        rpi_camera_v_flip: bool = false; "rpiCameraVFlip", "ser_plain", "de_opt_plain";
        rpi_camera_brightness: f64 = 0.0; "rpiCameraBrightness", "ser_plain", "de_opt_plain";
        rpi_camera_contrast: f64 = 1.0; "rpiCameraContrast", "ser_plain", "de_opt_plain";
        rpi_camera_saturation: f64 = 1.0; "rpiCameraSaturation", "ser_plain", "de_opt_plain";
        rpi_camera_sharpness: f64 = 1.0; "rpiCameraSharpness", "ser_plain", "de_opt_plain";
        rpi_camera_exposure: String = s("normal"); "rpiCameraExposure", "ser_plain", "de_opt_plain";
        rpi_camera_awb: String = s("auto"); "rpiCameraAWB", "ser_plain", "de_opt_plain";
        rpi_camera_awb_gains: Vec<f64> = vec![0.0, 0.0]; "rpiCameraAWBGains", "ser_plain", "de_opt_plain";
        rpi_camera_denoise: String = s("off"); "rpiCameraDenoise", "ser_plain", "de_opt_plain";
        rpi_camera_shutter: u64 = 0; "rpiCameraShutter", "ser_plain", "de_opt_plain";
        rpi_camera_metering: String = s("centre"); "rpiCameraMetering", "ser_plain", "de_opt_plain";
        rpi_camera_gain: f64 = 0.0; "rpiCameraGain", "ser_plain", "de_opt_plain";
        rpi_camera_ev: f64 = 0.0; "rpiCameraEV", "ser_plain", "de_opt_plain";
        rpi_camera_roi: String = String::new(); "rpiCameraROI", "ser_plain", "de_opt_plain";
        rpi_camera_hdr: bool = false; "rpiCameraHDR", "ser_plain", "de_opt_plain";
        rpi_camera_tuning_file: String = String::new(); "rpiCameraTuningFile", "ser_plain", "de_opt_plain";
        rpi_camera_mode: String = String::new(); "rpiCameraMode", "ser_plain", "de_opt_plain";
        rpi_camera_fps: f64 = 30.0; "rpiCameraFPS", "ser_plain", "de_opt_plain";
        rpi_camera_af_mode: String = s("continuous"); "rpiCameraAfMode", "ser_plain", "de_opt_plain";
        rpi_camera_af_range: String = s("normal"); "rpiCameraAfRange", "ser_plain", "de_opt_plain";
        rpi_camera_af_speed: String = s("normal"); "rpiCameraAfSpeed", "ser_plain", "de_opt_plain";
        rpi_camera_lens_position: f64 = 0.0; "rpiCameraLensPosition", "ser_plain", "de_opt_plain";
        rpi_camera_af_window: String = String::new(); "rpiCameraAfWindow", "ser_plain", "de_opt_plain";
        rpi_camera_flicker_period: u64 = 0; "rpiCameraFlickerPeriod", "ser_plain", "de_opt_plain";
        rpi_camera_text_overlay_enable: bool = false; "rpiCameraTextOverlayEnable", "ser_plain", "de_opt_plain";
        rpi_camera_text_overlay: String = s("%Y-%m-%d %H:%M:%S - MediaMTX"); "rpiCameraTextOverlay", "ser_plain", "de_opt_plain";
        rpi_camera_codec: String = s("auto"); "rpiCameraCodec", "ser_plain", "de_opt_plain";
        rpi_camera_idr_period: u32 = 60; "rpiCameraIDRPeriod", "ser_plain", "de_opt_plain";
        rpi_camera_bitrate: u64 = 5_000_000; "rpiCameraBitrate", "ser_plain", "de_opt_plain";
        rpi_camera_h264_profile: String = s("auto"); "rpiCameraH264Profile", "ser_plain", "de_opt_plain";
        rpi_camera_h264_level: String = s("4.1"); "rpiCameraH264Level", "ser_plain", "de_opt_plain";
        rpi_camera_mjpeg_quality: u32 = 60; "rpiCameraMJPEGQuality", "ser_plain", "de_opt_plain";

        // ---- hooks
        /// Command run when the path is initialized.
        run_on_init: String = String::new(); "runOnInit", "ser_plain", "de_opt_plain";
        run_on_init_restart: bool = false; "runOnInitRestart", "ser_plain", "de_opt_plain";
        /// Command run when a reader asks for a stream nobody publishes.
        run_on_demand: String = String::new(); "runOnDemand", "ser_plain", "de_opt_plain";
        run_on_demand_restart: bool = false; "runOnDemandRestart", "ser_plain", "de_opt_plain";
        run_on_demand_start_timeout: Duration = secs(10); "runOnDemandStartTimeout", "ser_duration", "de_opt_duration";
        run_on_demand_close_after: Duration = secs(10); "runOnDemandCloseAfter", "ser_duration", "de_opt_duration";
        run_on_un_demand: String = String::new(); "runOnUnDemand", "ser_plain", "de_opt_plain";
        /// Command run while the stream is available.
        run_on_available: String = String::new(); "runOnAvailable", "ser_plain", "de_opt_plain";
        run_on_available_restart: bool = false; "runOnAvailableRestart", "ser_plain", "de_opt_plain";
        run_on_unavailable: String = String::new(); "runOnUnavailable", "ser_plain", "de_opt_plain";
        /// Command run while the stream is online.
        run_on_online: String = String::new(); "runOnOnline", "ser_plain", "de_opt_plain";
        run_on_online_restart: bool = false; "runOnOnlineRestart", "ser_plain", "de_opt_plain";
        run_on_offline: String = String::new(); "runOnOffline", "ser_plain", "de_opt_plain";
        /// Command run while a client reads.
        run_on_read: String = String::new(); "runOnRead", "ser_plain", "de_opt_plain";
        run_on_read_restart: bool = false; "runOnReadRestart", "ser_plain", "de_opt_plain";
        run_on_unread: String = String::new(); "runOnUnread", "ser_plain", "de_opt_plain";
        /// Command run when a recording segment is created.
        run_on_record_segment_create: String = String::new(); "runOnRecordSegmentCreate", "ser_plain", "de_opt_plain";
        /// Command run when a recording segment is complete.
        run_on_record_segment_complete: String = String::new(); "runOnRecordSegmentComplete", "ser_plain", "de_opt_plain";
    }
    deprecated {
        dep_disable_publisher_override: "disablePublisherOverride";
        dep_fallback: "fallback";
        dep_mpegts_udp_read_buffer_size: "mpegtsUDPReadBufferSize";
        dep_playback: "playback";
        dep_publish_ips: "publishIPs";
        dep_publish_pass: "publishPass";
        dep_publish_user: "publishUser";
        dep_read_ips: "readIPs";
        dep_read_pass: "readPass";
        dep_read_user: "readUser";
        dep_rpi_camera_hardware_h264_level: "rpiCameraHardwareH264Level";
        dep_rpi_camera_hardware_h264_profile: "rpiCameraHardwareH264Profile";
        dep_rpi_camera_jpeg_quality: "rpiCameraJPEGQuality";
        dep_rpi_camera_level: "rpiCameraLevel";
        dep_rpi_camera_profile: "rpiCameraProfile";
        dep_rpi_camera_software_h264_level: "rpiCameraSoftwareH264Level";
        dep_rpi_camera_software_h264_profile: "rpiCameraSoftwareH264Profile";
        dep_rtp_udp_read_buffer_size: "rtpUDPReadBufferSize";
        dep_rtsp_udp_read_buffer_size: "rtspUDPReadBufferSize";
        dep_run_on_not_ready: "runOnNotReady";
        dep_run_on_ready: "runOnReady";
        dep_run_on_ready_restart: "runOnReadyRestart";
        dep_source_any_port_enable: "sourceAnyPortEnable";
        dep_source_protocol: "sourceProtocol";
    }
}
