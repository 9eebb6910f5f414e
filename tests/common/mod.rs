//! Shared helpers of the end-to-end tests: a Ferrocast server in a child process with its
//! own ports and configuration, third-party clients (ffmpeg, ffprobe, GStreamer, nginx)
//! as child processes, a generated test source, and a tiny HTTP client for the API.
//!
//! Every child process is killed on drop; when a test fails, the logs of the server and of
//! the clients are printed so the failure can be understood from the CI output alone.
//! Missing tools are a failure, never a skip: CI must run these tests.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The server binary built by Cargo for these tests.
pub const FERROCAST: &str = env!("CARGO_BIN_EXE_ferrocast");

// ------------------------------------------------------------------------------------ tools

/// Panics with an actionable message when a third-party tool is missing.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(tool))))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed or not in PATH: the end-to-end tests need it \
         (on Debian 12: run .ci/run as root, or apt-get install the packages it lists)"
    );
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Panics when a GStreamer element is missing (a plugin package is not installed).
pub fn require_gst_element(element: &str) {
    require("gst-inspect-1.0");
    let out = Command::new("gst-inspect-1.0")
        .arg(element)
        .output()
        .expect("run gst-inspect-1.0");
    assert!(
        out.status.success(),
        "GStreamer element `{element}` is missing: install gstreamer1.0-plugins-base, \
         gstreamer1.0-plugins-good, gstreamer1.0-plugins-bad, gstreamer1.0-plugins-ugly, gstreamer1.0-libav and gstreamer1.0-rtsp"
    );
}

/// A self-signed certificate for localhost: (key, certificate).
pub fn self_signed(dir: &TempDir) -> (PathBuf, PathBuf) {
    require("openssl");
    let key = dir.join("server.key");
    let cert = dir.join("server.crt");
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ])
    .args(["-subj", "/CN=localhost", "-keyout"])
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    run_ok(cmd, Duration::from_secs(60));
    (key, cert)
}

// ---------------------------------------------------------------------------- temp dirs

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory under Cargo's target/tmp, removed on drop unless the test failed
/// (then it is kept and its path printed, with the logs inside).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("e2e")
            .join(format!("{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a scratch directory");
        TempDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("(scratch files kept in {})", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1, and that this test process has not
/// handed out before (the kernel may return the same ephemeral port twice in a row once the
/// probing listener is closed: a server's RTMP and API ports then collide).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port")
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no fresh ephemeral port after 100 tries");
}

/// A free UDP port below the kernel's ephemeral range (32768 and up), so that the client
/// sockets other tests open meanwhile (aiortc, Chromium) cannot take it before the server
/// binds it.
pub fn free_udp_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static GIVEN_UDP: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let seed = std::process::id() as usize * 7919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as usize)
            .unwrap_or(0);
    for i in 0..2000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + ((seed + (n + i) * 104_729) % 12000) as u16;
        if std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok() {
            let mut given = GIVEN_UDP.lock().unwrap_or_else(|e| e.into_inner());
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }
    panic!("no free UDP port between 20000 and 32000");
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// --------------------------------------------------------------------------- processes

/// A child process whose stdout and stderr go to a log file; killed on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and its output in `dir/NAME.log`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &TempDir) -> Proc {
        let log = dir.join(&format!("{name}.log"));
        let out = File::create(&log).expect("create a log file");
        let err = out.try_clone().expect("clone a file handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
            log,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("wait for a child");
        }
        self.status
    }

    pub fn is_alive(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits up to `timeout` for the process to end.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_for(timeout, || self.try_status())
    }

    /// Sends a signal (e.g. "INT", "TERM") through the shell's `kill` builtin.
    pub fn signal(&mut self, sig: &str) {
        if self.is_alive() {
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("kill -{sig} {}", self.child.id()))
                .status();
        }
    }

    pub fn kill(&mut self) {
        if self.is_alive() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "----- last lines of {} ({}) -----\n{}\n-----",
                self.name,
                self.log.display(),
                tail(&self.output(), 40)
            );
        }
    }
}

/// Runs a command to completion with a time limit; kills it on time-out.
/// Returns `None` as status when it was killed.
pub struct Ran {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.status.map(|s| s.success()).unwrap_or(false)
    }

    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn run(mut cmd: Command, timeout: Duration) -> Ran {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = so.read_to_end(&mut s);
        s
    });
    let t2 = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = se.read_to_end(&mut s);
        s
    });
    let status = wait_for(timeout, || child.try_wait().expect("wait for a child"));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&t1.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t2.join().unwrap_or_default()).into_owned();
    Ran {
        status,
        stdout,
        stderr,
        elapsed,
    }
}

/// Runs a command that must succeed quickly (test set-up); panics with its output otherwise.
pub fn run_ok(cmd: Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let r = run(cmd, timeout);
    assert!(
        r.success(),
        "{desc} failed ({:?}):\n{}\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    Output {
        status: r.status.expect("status"),
        stdout: r.stdout.into_bytes(),
        stderr: r.stderr.into_bytes(),
    }
}

// ------------------------------------------------------------------------ test sources

/// The generated test sources: H264 + AAC in FLV, 320x240 at 30 fps, one keyframe per
/// second, 440 Hz sine at 48 kHz. Encoded once per test binary (and cached across runs
/// in target/tmp), then published with `-c copy` so tests don't spend CPU on x264.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// No B-frames (`-tune zerolatency`).
    Plain,
    /// Two B-frames between references (what OBS and many encoders send).
    BFrames,
}

/// Seconds of media in a generated source (published in a loop).
pub const SOURCE_SECONDS: u32 = 12;
/// Frame rate of the generated video.
pub const FPS: u32 = 30;

pub fn source(kind: Source) -> PathBuf {
    static PLAIN: OnceLock<PathBuf> = OnceLock::new();
    static BFRAMES: OnceLock<PathBuf> = OnceLock::new();
    let cell = match kind {
        Source::Plain => &PLAIN,
        Source::BFrames => &BFRAMES,
    };
    cell.get_or_init(|| make_source(kind)).clone()
}

fn make_source(kind: Source) -> PathBuf {
    require("ffmpeg");
    let video: &[&str] = match kind {
        Source::Plain => &["-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0"],
        Source::BFrames => &["-preset", "veryfast", "-bf", "2"],
    };
    let name = match kind {
        Source::Plain => format!("src-plain-v1-{SOURCE_SECONDS}s.flv"),
        Source::BFrames => format!("src-bframes-v1-{SOURCE_SECONDS}s.flv"),
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-sources");
    fs::create_dir_all(&dir).expect("create the sources directory");
    let path = dir.join(&name);
    if path.is_file()
        && fs::metadata(&path)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false)
    {
        return path;
    }
    let tmp = dir.join(format!("{name}.{}.tmp.flv", std::process::id()));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=320x240:rate={FPS}"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &SOURCE_SECONDS.to_string()])
        .args(["-c:v", "libx264"])
        .args(video)
        .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
        .args(["-b:v", "400k", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-ac", "2"])
        .args(["-f", "flv"])
        .arg(&tmp);
    run_ok(cmd, Duration::from_secs(120));
    fs::rename(&tmp, &path).expect("move the generated source in place");
    path
}

// ---------------------------------------------------------------------------- the server

/// Options of a test server.
pub struct ServerOpts {
    /// YAML appended after the generated listener settings (paths, auth, ...).
    /// When it sets no `paths`, `paths: {all_others: {}}` is added.
    pub yaml: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The label of the scratch directory.
    pub label: String,
}

impl ServerOpts {
    pub fn new(label: &str, yaml: &str) -> ServerOpts {
        ServerOpts {
            yaml: yaml.to_string(),
            env: vec![],
            label: label.to_string(),
        }
    }
}

/// A Ferrocast process with its own RTMP and API ports, killed on drop.
pub struct Server {
    pub dir: TempDir,
    pub rtmp_port: u16,
    pub api_port: u16,
    pub config: PathBuf,
    pub proc: Proc,
}

impl Server {
    /// A server that accepts any path (`all_others`), with the API on.
    pub fn start(label: &str) -> Server {
        Server::start_with(ServerOpts::new(label, ""))
    }

    pub fn start_with(opts: ServerOpts) -> Server {
        let dir = TempDir::new(&opts.label);
        let rtmp_port = free_port();
        let api_port = free_port();
        let mut yaml = format!(
            "logLevel: info\n\
             readTimeout: 10s\n\
             writeTimeout: 10s\n\
             rtmp: yes\n\
             rtmpAddress: 127.0.0.1:{rtmp_port}\n\
             rtmpEncryption: \"no\"\n\
             api: yes\n\
             apiAddress: 127.0.0.1:{api_port}\n"
        );
        if !opts.yaml.lines().any(|l| l.starts_with("webrtc")) {
            // Off unless a test configures it: parallel servers can't share its ports.
            yaml.push_str("webrtc: no\n");
        }
        if !opts.yaml.lines().any(|l| l.starts_with("rtsp")) {
            yaml.push_str("rtsp: no\n");
        }
        yaml.push_str(&opts.yaml);
        if !opts.yaml.lines().any(|l| l.starts_with("paths:")) {
            yaml.push_str("\npaths:\n  all_others:\n");
        }
        let config = dir.join("mediamtx.yml");
        fs::write(&config, &yaml).expect("write the configuration");
        let arg = config.display().to_string();
        Server::launch(dir, Some(&arg), &opts.env, rtmp_port, api_port)
    }

    /// Starts the binary in `dir` (its working directory) with an optional configuration
    /// argument and extra environment, and waits until `rtmp_port` and `api_port` answer.
    pub fn launch(
        dir: TempDir,
        config: Option<&str>,
        env: &[(String, String)],
        rtmp_port: u16,
        api_port: u16,
    ) -> Server {
        let mut cmd = Command::new(FERROCAST);
        if let Some(c) = config {
            cmd.arg(c);
        }
        cmd.current_dir(&dir.path);
        clean_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let proc = Proc::spawn("ferrocast", cmd, &dir);
        let mut server = Server {
            config: config.map(PathBuf::from).unwrap_or_default(),
            dir,
            rtmp_port,
            api_port,
            proc,
        };
        server.wait_started();
        server
    }

    /// Waits until the RTMP port accepts connections and the API answers.
    pub fn wait_started(&mut self) {
        let rtmp = self.rtmp_port;
        let api = self.api_port;
        let ok = wait_for(Duration::from_secs(20), || {
            if !self.proc.is_alive() {
                panic!(
                    "ferrocast exited during start-up ({:?}):\n{}",
                    self.proc.try_status(),
                    self.log()
                );
            }
            let rtmp_ok = TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], rtmp)),
                Duration::from_millis(500),
            )
            .is_ok();
            // Any HTTP answer will do (it may be 401 when the API needs credentials).
            let api_ok = http(api, "GET", "/v3/paths/list", None).is_ok();
            (rtmp_ok && api_ok).then_some(())
        });
        assert!(
            ok.is_some(),
            "ferrocast did not open RTMP port {rtmp} and API port {api} within 20 s:\n{}",
            self.log()
        );
    }

    pub fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.rtmp_port)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.proc.output()
    }

    /// Waits until the log contains every one of `needles` on one line.
    pub fn wait_log_line(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        wait_for(timeout, || {
            self.log()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_string)
        })
    }

    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        http(self.api_port, method, path, body)
            .unwrap_or_else(|e| panic!("API request {method} {path} failed: {e}"))
    }

    /// GET that must answer 200 with JSON.
    pub fn get_json(&self, path: &str) -> Value {
        let r = self.api("GET", path, None);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.json()
    }

    /// The item of `/v3/paths/list` named `name`.
    pub fn path_item(&self, name: &str) -> Option<Value> {
        let list = self.get_json("/v3/paths/list");
        list["items"]
            .as_array()
            .expect("items array")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    }

    /// Waits until the path is ready (a publisher sent its tracks) and returns it.
    pub fn wait_ready(&self, name: &str, timeout: Duration) -> Value {
        wait_for(timeout, || {
            self.path_item(name).filter(|p| p["ready"] == true)
        })
        .unwrap_or_else(|| {
            panic!(
                "path '{name}' was not ready within {timeout:?}; paths: {}",
                self.get_json("/v3/paths/list")
            )
        })
    }

    /// Waits until the path has exactly `n` readers.
    pub fn wait_readers(&self, name: &str, n: usize, timeout: Duration) -> Value {
        wait_for(timeout, || {
            self.path_item(name)
                .filter(|p| p["readers"].as_array().map(|r| r.len()) == Some(n))
        })
        .unwrap_or_else(|| {
            panic!(
                "path '{name}' did not reach {n} reader(s) within {timeout:?}; paths: {}",
                self.get_json("/v3/paths/list")
            )
        })
    }

    /// Items of `/v3/rtmpconns/list`.
    pub fn rtmp_conns(&self) -> Vec<Value> {
        self.get_json("/v3/rtmpconns/list")["items"]
            .as_array()
            .expect("items array")
            .clone()
    }

    /// Resident memory of the server process, in KiB (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.proc.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    pub fn is_alive(&mut self) -> bool {
        self.proc.is_alive()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Proc's own drop prints the tail; print the whole server log instead.
        if thread::panicking() {
            eprintln!(
                "===== ferrocast log ({}) =====\n{}\n===== end of ferrocast log =====",
                self.proc.log.display(),
                self.log()
            );
        }
    }
}

/// Removes variables of the developer's environment that would change the server.
pub fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("MTX_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
    }
}

// ----------------------------------------------------------------------------- clients

/// `ffmpeg -re -stream_loop -1 -i SRC -c copy -f flv URL`: a live publisher.
pub fn publish(dir: &TempDir, name: &str, kind: Source, url: &str) -> Proc {
    require("ffmpeg");
    let src = source(kind);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "warning", "-nostdin"])
        .args(["-re", "-stream_loop", "-1", "-i"])
        .arg(&src)
        .args(["-c", "copy", "-f", "flv"])
        .arg(url);
    Proc::spawn(name, cmd, dir)
}

/// A long-running ffmpeg reader that decodes everything it receives and reports its
/// decoded video frame count twice a second through `-progress`.
pub struct FfmpegReader {
    pub proc: Proc,
    progress: PathBuf,
}

impl FfmpegReader {
    /// Reads until killed (or for `seconds` if given).
    pub fn start(dir: &TempDir, name: &str, url: &str, seconds: Option<u32>) -> FfmpegReader {
        require("ffmpeg");
        let progress = dir.join(&format!("{name}.progress"));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "warning", "-nostdin"])
            .args(["-i", url]);
        if let Some(s) = seconds {
            cmd.args(["-t", &s.to_string()]);
        }
        cmd.args(["-f", "null", "-", "-stats_period", "0.5", "-progress"])
            .arg(&progress);
        FfmpegReader {
            proc: Proc::spawn(name, cmd, dir),
            progress,
        }
    }

    /// Decoded video frames so far (0 before the first report).
    pub fn frames(&self) -> u64 {
        let text = fs::read_to_string(&self.progress).unwrap_or_default();
        // Frame counts only grow; the max also ignores a last line caught half-written.
        text.lines()
            .filter_map(|l| l.strip_prefix("frame="))
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    }

    /// Whether ffmpeg wrote its final report (`progress=end`).
    pub fn ended(&self) -> bool {
        fs::read_to_string(&self.progress)
            .unwrap_or_default()
            .contains("progress=end")
    }

    /// Waits until at least `n` frames were decoded; panics otherwise.
    pub fn wait_frames(&mut self, n: u64, timeout: Duration) -> u64 {
        let name = self.proc.name.clone();
        let got = wait_for(timeout, || {
            let f = self.frames();
            (f >= n).then_some(f)
        });
        got.unwrap_or_else(|| {
            panic!(
                "{name} decoded {} frame(s), expected at least {n} within {timeout:?} (alive: {})",
                self.frames(),
                self.proc.is_alive()
            )
        })
    }
}

/// One stream as ffprobe counted it.
#[derive(Debug, Clone)]
pub struct ProbedStream {
    pub codec_type: String,
    pub codec_name: String,
    pub frames: u64,
}

/// `ffprobe -count_frames` over the first `seconds` of `url`: decodes and counts frames
/// per stream. Panics when ffprobe fails or hangs.
pub fn probe(url: &str, seconds: u32) -> Vec<ProbedStream> {
    let r = probe_raw(url, seconds, &[]);
    assert!(
        r.success(),
        "ffprobe {url} failed ({:?}) after {:?}:\n{}",
        r.status,
        r.elapsed,
        r.stderr
    );
    if !r.stderr.trim().is_empty() {
        eprintln!("ffprobe {url} said:\n{}", r.stderr.trim());
    }
    let streams = parse_probe(&r.stdout);
    eprintln!("ffprobe {url} ({:?}): {streams:?}", r.elapsed);
    streams
}

/// Runs the counting ffprobe with extra arguments, without judging the result.
pub fn probe_raw(url: &str, seconds: u32, extra: &[&str]) -> Ran {
    require("ffprobe");
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-hide_banner", "-v", "error"])
        .args(extra)
        .args(["-read_intervals", &format!("%+{seconds}")])
        .args(["-count_frames", "-show_entries"])
        .args(["stream=codec_name,codec_type,nb_read_frames", "-of", "json"])
        .arg(url);
    run(cmd, Duration::from_secs(30 + u64::from(seconds)))
}

pub fn parse_probe(stdout: &str) -> Vec<ProbedStream> {
    let v: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("ffprobe printed invalid JSON ({e}): {stdout}"));
    v["streams"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| ProbedStream {
            codec_type: s["codec_type"].as_str().unwrap_or_default().to_string(),
            codec_name: s["codec_name"].as_str().unwrap_or_default().to_string(),
            frames: s["nb_read_frames"]
                .as_str()
                .and_then(|n| n.parse().ok())
                .or_else(|| s["nb_read_frames"].as_u64())
                .unwrap_or(0),
        })
        .collect()
}

/// Asserts that the probe decoded H264 video and AAC audio, at least `min_video` and
/// `min_audio` frames of each.
pub fn assert_h264_aac(streams: &[ProbedStream], min_video: u64, min_audio: u64) {
    let v = streams
        .iter()
        .find(|s| s.codec_type == "video")
        .unwrap_or_else(|| panic!("no video stream: {streams:?}"));
    let a = streams
        .iter()
        .find(|s| s.codec_type == "audio")
        .unwrap_or_else(|| panic!("no audio stream: {streams:?}"));
    assert_eq!(v.codec_name, "h264", "{streams:?}");
    assert_eq!(a.codec_name, "aac", "{streams:?}");
    assert!(
        v.frames >= min_video,
        "decoded {} video frames, expected >= {min_video}: {streams:?}",
        v.frames
    );
    assert!(
        a.frames >= min_audio,
        "decoded {} audio frames, expected >= {min_audio}: {streams:?}",
        a.frames
    );
}

// ---------------------------------------------------------------------------- HTTP

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client on std's TcpStream (one request per connection).
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> io::Result<HttpResponse> {
    http_with_headers(port, method, path, &[], body)
}

/// [`http`] with extra request headers.
pub fn http_with_headers(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(5),
    )?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.set_write_timeout(Some(Duration::from_secs(15)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    } else if method != "GET" && method != "HEAD" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_http(&raw)
}

fn parse_http(raw: &[u8]) -> io::Result<HttpResponse> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad("bad chunk"))?;
            let size_line = String::from_utf8_lossy(&rest[..eol]).into_owned();
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size {
                return Err(bad("truncated chunk"));
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[(size + 2).min(rest.len())..];
        }
        body = out;
    }
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

// ------------------------------------------------------------------------------- nginx

/// nginx with the RTMP module, as a third-party RTMP server (an RTMP CDN stand-in).
pub struct Nginx {
    pub port: u16,
    pub proc: Proc,
}

impl Nginx {
    pub fn start(dir: &TempDir) -> Nginx {
        Nginx::start_on(dir, free_port())
    }

    /// Starts nginx-rtmp on a given port (e.g. again after stopping it).
    pub fn start_on(dir: &TempDir, port: u16) -> Nginx {
        require("nginx");
        let module = ["/usr/lib/nginx/modules/ngx_rtmp_module.so"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("the nginx RTMP module is missing: apt-get install libnginx-mod-rtmp");
        let root = dir.join("nginx");
        fs::create_dir_all(&root).expect("create the nginx directory");
        let conf = root.join("nginx.conf");
        fs::write(
            &conf,
            format!(
                "load_module {module};\n\
                 daemon off;\n\
                 master_process off;\n\
                 pid {root}/nginx.pid;\n\
                 error_log {root}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
                   application live {{ live on; record off; }} }} }}\n",
                root = root.display()
            ),
        )
        .expect("write nginx.conf");
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(format!("{}/", root.display()))
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(root.join("error.log"));
        let mut proc = Proc::spawn("nginx", cmd, dir);
        let up = wait_for(Duration::from_secs(10), || {
            assert!(proc.is_alive(), "nginx exited: {}", proc.output());
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "nginx did not listen on {port}");
        Nginx { port, proc }
    }

    pub fn url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.port)
    }
}

// ------------------------------------------------------------------------------ aiortc

/// A python3 that can import aiortc; panics with the install command otherwise.
pub fn aiortc_python() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let mut candidates: Vec<PathBuf> = vec![];
    if let Some(p) = std::env::var_os("FERROCAST_PYTHON") {
        candidates.push(p.into());
    }
    candidates.push(target.join("webrtc-venv/bin/python3"));
    candidates.push("python3".into());
    for c in &candidates {
        let ok = Command::new(c)
            .args(["-c", "import aiortc, av"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return c.clone();
        }
    }
    panic!(
        "no python3 with aiortc found (tried {candidates:?}): the WebRTC end-to-end tests need \
         it. Install it with `python3 -m venv {venv} && {venv}/bin/pip install aiortc` \
         (or `pip install aiortc`, or set FERROCAST_PYTHON to a python that has it)",
        venv = target.join("webrtc-venv").display()
    );
}

pub fn client_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webrtc/client.py")
}

/// Runs the aiortc client and returns its last JSON line.
pub fn run_client(args: &[&str], timeout: Duration) -> Value {
    let mut cmd = Command::new(aiortc_python());
    cmd.arg(client_script()).args(args);
    let r = run(cmd, timeout);
    eprintln!(
        "client {args:?}: {:?}\n{}\n{}",
        r.status, r.stdout, r.stderr
    );
    assert!(
        r.success(),
        "the aiortc client failed ({:?}):\n{}\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    let line = r
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("the aiortc client printed no JSON: {}", r.stdout));
    serde_json::from_str(line).expect("JSON from the client")
}
