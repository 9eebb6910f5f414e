//! Ferrocast's binary: loads the configuration, starts the servers and the API, applies
//! configuration changes live, and shuts down cleanly on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{anyhow, Context};
use ferrocast_conf::{Conf, Encryption, LogLevel};
use ferrocast_core::conns::ConnRegistry;
use ferrocast_core::{CancellationToken, PathManager};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tracing::{error, info, warn};
use tracing_subscriber::{reload, EnvFilter};

mod renditions;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const HELP: &str = "\
ferrocast: live media server (RTMP/RTMPS, WebRTC WHIP/WHEP; MediaMTX-compatible configuration and API)

Usage: ferrocast [CONFIG]

  CONFIG   path of a mediamtx.yml; without it, ./mediamtx.yml if present,
           else the default configuration compiled into the binary.

Options:
  -h, --help      print this help
  -V, --version   print the version

Every configuration key can be overridden with an environment variable MTX_<KEY>,
e.g. MTX_RTMPADDRESS=:1936 or MTX_PATHS_CAM_SOURCE=publisher.
The log level can also be set with RUST_LOG (e.g. RUST_LOG=debug).
";

/// Entry point of the `ferrocast` binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config: Option<String> = None;
    for a in &args {
        match a.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            "-V" | "--version" => {
                println!("ferrocast {VERSION}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => {
                eprintln!("ferrocast: unknown option '{s}'\n\n{HELP}");
                return ExitCode::from(2);
            }
            s => {
                if config.is_some() {
                    eprintln!("ferrocast: only one configuration file can be given");
                    return ExitCode::from(2);
                }
                config = Some(s.to_string());
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferrocast: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrocast: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn level_filter(l: LogLevel) -> EnvFilter {
    if let Ok(f) = std::env::var("RUST_LOG") {
        if let Ok(f) = EnvFilter::try_new(f) {
            return f;
        }
    }
    EnvFilter::new(match l {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    })
}

/// Parses MediaMTX-style listen addresses: ":1935", "127.0.0.1:1935", "[::1]:1935".
pub fn listen_addr(s: &str) -> anyhow::Result<SocketAddr> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .with_context(|| format!("invalid listen address '{s}'"))
}

async fn bind(what: &str, addr: &str) -> anyhow::Result<TcpListener> {
    let a = listen_addr(addr)?;
    TcpListener::bind(a)
        .await
        .with_context(|| format!("{what}: cannot listen on {addr}"))
}

/// Starts the RTSP listener (or, `secure`, the RTSPS one) and, per `rtspTransports`, its
/// UDP sockets and multicast sender. RTSPS sends SRTP over UDP and multicast, on the
/// SRTP ports, with keys exchanged in MIKEY inside TLS; over TCP it serves SRTP or plain
/// RTP inside TLS, whichever the client asks for.
async fn start_rtsp(
    conf: &Conf,
    paths: &Arc<PathManager>,
    conns: &Arc<ConnRegistry>,
    shutdown: &CancellationToken,
    secure: bool,
) -> anyhow::Result<()> {
    use ferrocast_conf::RtspTransport;
    let (name, address, rtp_address, rtcp_address, mc_rtp, mc_rtcp) = if secure {
        (
            "RTSPS",
            &conf.rtsps_address,
            &conf.srtp_address,
            &conf.srtcp_address,
            conf.multicast_srtp_port,
            conf.multicast_srtcp_port,
        )
    } else {
        (
            "RTSP",
            &conf.rtsp_address,
            &conf.rtp_address,
            &conf.rtcp_address,
            conf.multicast_rtp_port,
            conf.multicast_rtcp_port,
        )
    };
    let (tls, srtp) = if secure {
        let tls = ferrocast_core::tls::acceptor(&conf.rtsp_server_cert, &conf.rtsp_server_key)
            .map_err(|e| anyhow!("RTSPS: {e}"))?;
        (Some(tls), Some(ferrocast_rtsp::keys::SrtpKeys::new()))
    } else {
        (None, None)
    };
    let l = bind(name, address).await?;
    let has = |t: RtspTransport| conf.rtsp_transports.contains(&t);
    let (rtp, rtcp) = if secure {
        ("SRTP", "SRTCP")
    } else {
        ("RTP", "RTCP")
    };
    let udp = if has(RtspTransport::Udp) {
        let u =
            ferrocast_rtsp::UdpServer::bind(listen_addr(rtp_address)?, listen_addr(rtcp_address)?)
                .await
                .with_context(|| {
                    format!(
                "{name}: cannot listen on {}Address {rtp_address} / {}Address {rtcp_address} (UDP)",
                rtp.to_lowercase(),
                rtcp.to_lowercase()
            )
                })?;
        u.spawn(shutdown.clone());
        Some(u)
    } else {
        None
    };
    let multicast = if has(RtspTransport::Multicast) {
        Some(
            ferrocast_rtsp::Multicast::new(&conf.multicast_ip_range, mc_rtp, mc_rtcp, srtp.clone())
                .await
                .map_err(|e| anyhow!("{name}: {e}"))?,
        )
    } else {
        None
    };
    let mut what = vec![];
    if has(RtspTransport::Tcp) {
        what.push(if secure { "TCP/TLS" } else { "TCP" }.to_string());
    }
    if udp.is_some() {
        what.push(format!(
            "UDP/{rtp} {rtp_address}, UDP/{rtcp} {rtcp_address}"
        ));
    }
    if multicast.is_some() {
        what.push(format!(
            "multicast{} {} ports {mc_rtp}/{mc_rtcp}",
            if secure { " SRTP" } else { "" },
            conf.multicast_ip_range
        ));
    }
    info!("{name} listener opened on {address} ({})", what.join(", "));
    let cfg = ferrocast_rtsp::ServerConfig {
        paths: paths.clone(),
        conns: conns.clone(),
        read_timeout: conf.read_timeout,
        write_timeout: conf.write_timeout,
        scheme: if secure { "rtsps" } else { "rtsp" },
        tcp: has(RtspTransport::Tcp),
        udp,
        multicast,
        tls,
        srtp,
    };
    tokio::spawn(ferrocast_rtsp::serve(l, cfg, shutdown.clone()));
    Ok(())
}

/// Running RTMP listeners, restarted when their settings change.
struct RtmpListeners {
    key: Option<RtmpKey>,
    token: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Clone, PartialEq)]
struct RtmpKey {
    enabled: bool,
    address: String,
    encryption: Encryption,
    rtmps_address: String,
    key: String,
    cert: String,
    read_timeout: std::time::Duration,
    write_timeout: std::time::Duration,
}

impl RtmpKey {
    fn of(c: &Conf) -> RtmpKey {
        RtmpKey {
            enabled: c.rtmp,
            address: c.rtmp_address.clone(),
            encryption: c.rtmp_encryption,
            rtmps_address: c.rtmps_address.clone(),
            key: c.rtmp_server_key.clone(),
            cert: c.rtmp_server_cert.clone(),
            read_timeout: c.read_timeout,
            write_timeout: c.write_timeout,
        }
    }
}

struct Servers {
    paths: Arc<PathManager>,
    rtmp_conns: Arc<ConnRegistry>,
    rtmps_conns: Arc<ConnRegistry>,
    rtmp: Mutex<RtmpListeners>,
    shutdown: CancellationToken,
}

impl Servers {
    /// Starts, restarts or stops the RTMP listeners to match `conf`.
    async fn apply_rtmp(&self, conf: &Conf) -> anyhow::Result<()> {
        let key = RtmpKey::of(conf);
        if self.rtmp.lock().key.as_ref() == Some(&key) {
            return Ok(());
        }
        let (old, old_tasks) = {
            let mut l = self.rtmp.lock();
            let old = std::mem::replace(&mut l.token, self.shutdown.child_token());
            (old, std::mem::take(&mut l.tasks))
        };
        old.cancel();
        // The old listeners must be closed before their addresses are bound again.
        for t in old_tasks {
            let _ = t.await;
        }
        let token = self.rtmp.lock().token.clone();
        let mut tasks = vec![];
        if key.enabled {
            let base = ferrocast_rtmp::server::ServerConfig {
                paths: self.paths.clone(),
                conns: self.rtmp_conns.clone(),
                tls: None,
                read_timeout: key.read_timeout,
                write_timeout: key.write_timeout,
                scheme: "rtmp",
            };
            if key.encryption != Encryption::Strict {
                let l = bind("RTMP", &key.address).await?;
                info!("RTMP listener opened on {}", key.address);
                tasks.push(tokio::spawn(ferrocast_rtmp::server::serve(
                    l,
                    base.clone(),
                    token.clone(),
                )));
            }
            if key.encryption != Encryption::No {
                let acceptor = ferrocast_rtmp::tls::acceptor(&key.cert, &key.key)
                    .map_err(|e| anyhow!("RTMPS: {e}"))?;
                let l = bind("RTMPS", &key.rtmps_address).await?;
                info!("RTMPS listener opened on {}", key.rtmps_address);
                let cfg = ferrocast_rtmp::server::ServerConfig {
                    conns: self.rtmps_conns.clone(),
                    tls: Some(acceptor),
                    scheme: "rtmps",
                    ..base
                };
                tasks.push(tokio::spawn(ferrocast_rtmp::server::serve(
                    l,
                    cfg,
                    token.clone(),
                )));
            }
        }
        let mut l = self.rtmp.lock();
        l.key = Some(key);
        l.tasks = tasks;
        Ok(())
    }
}

async fn run(config: Option<String>) -> anyhow::Result<()> {
    let (conf, warnings, source) =
        Conf::load(config.as_deref().map(std::path::Path::new)).map_err(|e| anyhow!("{e}"))?;
    let (filter, reload_handle) = reload::Layer::new(level_filter(conf.log_level));
    {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .init();
    }
    info!("Ferrocast {VERSION}, configuration: {source}");
    for w in &warnings {
        warn!("{w}");
    }
    let conf = Arc::new(conf);
    let shutdown = CancellationToken::new();
    let servers = Arc::new(Servers {
        paths: PathManager::new(conf.clone()),
        rtmp_conns: ConnRegistry::new(),
        rtmps_conns: ConnRegistry::new(),
        rtmp: Mutex::new(RtmpListeners {
            key: None,
            token: shutdown.child_token(),
            tasks: vec![],
        }),
        shutdown: shutdown.clone(),
    });
    servers.paths.set_transcoders(renditions::factory());
    servers
        .paths
        .set_forwarder(ferrocast_core::forward::ForwarderFactory(Arc::new(
            |job: ferrocast_core::forward::ForwardJob| match job.status.protocol() {
                "whip" | "whips" => ferrocast_webrtc::client::start_forward(job),
                _ => ferrocast_rtmp::forward::start(job),
            },
        )));
    // Pull sources (`source: rtmp://...`), by URL scheme. Static sources start once the
    // listeners are up (below); schemes without a driver are logged and not pulled.
    servers
        .paths
        .set_source(&["rtmp", "rtmps"], ferrocast_rtmp::source::factory());
    servers
        .paths
        .set_source(&["rtsp", "rtsps"], ferrocast_rtsp::source::factory());
    servers.paths.set_source(
        &["whep", "wheps"],
        ferrocast_webrtc::client::source_factory(),
    );
    servers.apply_rtmp(&conf).await?;

    let rtsp_conns = ConnRegistry::new();
    let rtsps_conns = ConnRegistry::new();
    if conf.rtsp && conf.rtsp_encryption != Encryption::Strict {
        start_rtsp(&conf, &servers.paths, &rtsp_conns, &shutdown, false).await?;
    }
    if conf.rtsp && conf.rtsp_encryption != Encryption::No {
        start_rtsp(&conf, &servers.paths, &rtsps_conns, &shutdown, true).await?;
    }

    let webrtc_sessions = ConnRegistry::new();
    if conf.webrtc {
        let l = bind("WebRTC", &conf.webrtc_address).await?;
        let cfg = ferrocast_webrtc::WebRtcConfig {
            paths: servers.paths.clone(),
            sessions: webrtc_sessions.clone(),
            udp_addr: listen_addr(&conf.webrtc_local_udp_address)?,
            tcp_addr: match conf.webrtc_local_tcp_address.as_str() {
                "" => None,
                a => Some(listen_addr(a)?),
            },
            additional_hosts: conf.webrtc_additional_hosts.clone(),
            ips_from_interfaces: conf.webrtc_ips_from_interfaces,
            handshake_timeout: conf.webrtc_handshake_timeout,
            allow_origins: conf.webrtc_allow_origins.clone(),
            ice_servers: conf
                .webrtc_ice_servers2
                .iter()
                .map(|s| ferrocast_webrtc::ice::IceServer {
                    url: s.url.clone(),
                    username: s.username.clone(),
                    password: s.password.clone(),
                })
                .collect(),
        };
        info!(
            "WebRTC listener opened on {} (HTTP), {} (UDP)",
            conf.webrtc_address, conf.webrtc_local_udp_address
        );
        let token = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = ferrocast_webrtc::serve(l, cfg, token).await {
                error!("WebRTC server stopped: {e}");
            }
        });
    }

    if conf.api {
        let l = bind("API", &conf.api_address).await?;
        info!("API listener opened on {}", conf.api_address);
        let srv = servers.clone();
        let rh = reload_handle.clone();
        let handle = tokio::runtime::Handle::current();
        let apply = move |new: Conf| -> Result<(), String> {
            let new = Arc::new(new);
            let old = srv.paths.conf();
            // Listener changes need async binds: run them on the runtime and wait.
            let srv2 = srv.clone();
            let n2 = new.clone();
            let r = tokio::task::block_in_place(|| handle.block_on(srv2.apply_rtmp(&n2)));
            r.map_err(|e| format!("{e:#}"))?;
            if old.log_level != new.log_level {
                let _ = rh.modify(|f| *f = level_filter(new.log_level));
            }
            if old.api_address != new.api_address || old.api != new.api {
                warn!("apiAddress/api changes take effect after a restart");
            }
            srv.paths.set_conf(new);
            Ok(())
        };
        let state = ferrocast_api::ApiState {
            paths: servers.paths.clone(),
            rtmp_conns: servers.rtmp_conns.clone(),
            rtmps_conns: servers.rtmps_conns.clone(),
            webrtc_sessions: webrtc_sessions.clone(),
            rtsp_conns: rtsp_conns.clone(),
            rtsps_conns: rtsps_conns.clone(),
            apply_conf: Arc::new(apply),
            started: SystemTime::now(),
            version: VERSION,
        };
        let token = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = ferrocast_api::serve(l, state, token).await {
                error!("API server stopped: {e}");
            }
        });
    }

    servers.paths.start_static_sources();

    wait_for_signal().await;
    info!("shutting down");
    shutdown.cancel();
    servers.paths.close_all("server shutting down");
    // Give sessions a moment to say goodbye.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
