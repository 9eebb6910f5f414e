//! Path registry: names -> configs, authentication, publishers and readers of each path.
//!
//! Registry operations (attach a publisher or reader, list, reload) are short and
//! synchronous, so they run under a mutex instead of an actor round-trip; the hot path
//! (`Publisher::write` -> `Stream::write`) never touches the registry lock.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferrocast_conf::{AuthAction, Conf, PathConf};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

use crate::forward::{ForwardJob, ForwardStatus, ForwarderFactory};
use crate::rendition::{RenditionGuard, TranscoderFactory};
use crate::source::{
    self, is_pull_source, redact, SourceCtx, SourceFactory, SourceState, SourceStatus,
    MAX_RETRY_PAUSE, MIN_RETRY_PAUSE,
};
use crate::stream::{ReadError, ReaderQueue, Stream};
use crate::unit::{rescale, Codec, Track, Unit};

/// Default time readers stay attached after their publisher leaves, waiting for it to return.
pub const DEFAULT_PUBLISHER_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Publish,
    Read,
}

/// Who wants to do what on which path.
#[derive(Debug, Clone)]
pub struct Access {
    pub action: Action,
    /// Path name without leading or trailing slash.
    pub path: String,
    pub query: String,
    pub user: String,
    pub pass: String,
    pub ip: IpAddr,
}

/// A protocol session as the registry sees it: its API type and id, and how to stop it.
#[derive(Debug, Clone)]
pub struct SessionRef {
    /// MediaMTX API type, e.g. "rtmpConn".
    pub kind: &'static str,
    pub id: Uuid,
    pub token: CancellationToken,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error("path '{0}' is not configured")]
    NotConfigured(String),
    #[error("invalid path name '{0}'")]
    InvalidName(String),
    #[error("authentication failed: {message}")]
    Auth {
        message: String,
        wrong_credentials: bool,
    },
    #[error("no one is publishing to path '{0}'")]
    NoOnePublishing(String),
    #[error("someone is already publishing to path '{0}'")]
    AlreadyPublishing(String),
    #[error("path '{0}' takes its stream from a source, not from publishers")]
    HasSource(String),
    #[error("path '{0}' has reached maxReaders")]
    TooManyReaders(String),
    #[error("{0}")]
    Closed(String),
}

#[derive(Debug)]
struct PublisherEntry {
    session: SessionRef,
    generation: u64,
}

#[derive(Debug)]
struct PathState {
    publisher: Option<PublisherEntry>,
    stream: Option<Arc<Stream>>,
    ready_time: Option<SystemTime>,
    readers: BTreeMap<u64, SessionRef>,
    /// Set while waiting for a publisher to come back; readers stay attached meanwhile.
    grace_generation: Option<u64>,
    /// The running pull source (run id, stop token).
    source_run: Option<(u64, CancellationToken)>,
    /// Readers waiting in [`PathManager::wait_for_source`].
    waiting: usize,
    /// Bumped whenever an on-demand close is scheduled, so older timers do nothing.
    idle_gen: u64,
    /// The path was removed (configuration change, shutdown): its source must not start.
    closed: bool,
}

/// The pull source of a path whose `source` is a URL.
#[derive(Debug)]
struct PathSource {
    status: Arc<SourceStatus>,
    on_demand: bool,
    /// Woken when the source publishes, for readers waiting on an on-demand source.
    ready: tokio::sync::Notify,
}

/// One live path.
#[derive(Debug)]
pub struct Path {
    name: String,
    conf: PathConf,
    state: Mutex<PathState>,
    /// One per `forward` destination, for as long as the path exists.
    forwards: Vec<Arc<ForwardStatus>>,
    source: Option<PathSource>,
}

/// What the API shows of a path.
#[derive(Debug, Clone)]
pub struct PathSnapshot {
    pub name: String,
    pub conf_name: String,
    /// API type and id of the publisher, or of the pull source (no id, as in MediaMTX).
    pub source: Option<(&'static str, Option<Uuid>)>,
    pub ready: bool,
    pub ready_time: Option<SystemTime>,
    pub tracks: Vec<Track>,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub readers: Vec<(&'static str, Uuid)>,
}

#[derive(Debug)]
struct Registry {
    conf: Arc<Conf>,
    paths: HashMap<String, Arc<Path>>,
}

/// Maps names to configs, authenticates, and finds or creates paths.
#[derive(Debug)]
pub struct PathManager {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    grace: Mutex<Duration>,
    transcoders: Mutex<Option<TranscoderFactory>>,
    forwarder: Mutex<Option<ForwarderFactory>>,
    /// Pull source drivers by URL scheme.
    sources: Mutex<HashMap<String, SourceFactory>>,
}

impl PathManager {
    pub fn new(conf: Arc<Conf>) -> Arc<PathManager> {
        Arc::new(PathManager {
            registry: Mutex::new(Registry {
                conf,
                paths: HashMap::new(),
            }),
            next_id: AtomicU64::new(1),
            grace: Mutex::new(DEFAULT_PUBLISHER_GRACE),
            transcoders: Mutex::new(None),
            forwarder: Mutex::new(None),
            sources: Mutex::new(HashMap::new()),
        })
    }

    pub fn conf(&self) -> Arc<Conf> {
        self.registry.lock().conf.clone()
    }

    /// Sets how renditions (derived tracks in another codec) are made.
    pub fn set_transcoders(&self, factory: TranscoderFactory) {
        *self.transcoders.lock() = Some(factory);
    }

    /// Sets how forwards to remote servers are started.
    pub fn set_forwarder(&self, factory: ForwarderFactory) {
        *self.forwarder.lock() = Some(factory);
    }

    /// The forward destinations of a live path (None: no such live path).
    pub fn forwards(&self, name: &str) -> Option<Vec<Arc<ForwardStatus>>> {
        let path = self.registry.lock().paths.get(name).cloned()?;
        Some(path.forwards.clone())
    }

    /// Starts the path's forwards on a new stream, each with its own reader.
    fn start_forwards(self: &Arc<Self>, path: &Arc<Path>, stream: &Arc<Stream>) {
        if path.forwards.is_empty() {
            return;
        }
        let Some(factory) = self.forwarder.lock().clone() else {
            warn!(path = %path.name, "forward configured but this server cannot forward");
            return;
        };
        let capacity = self.conf().write_queue_size;
        for status in &path.forwards {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let Ok(queue) = stream.add_reader(id, capacity) else {
                return;
            };
            let session = SessionRef {
                kind: "forward",
                id: status.id,
                token: CancellationToken::new(),
            };
            path.state.lock().readers.insert(id, session);
            let reader = Reader {
                manager: self.clone(),
                path: path.clone(),
                stream: stream.clone(),
                queue,
                id,
                renditions: Vec::new(),
            };
            let job = ForwardJob {
                reader,
                status: status.clone(),
            };
            if let Err(e) = (factory.0)(job) {
                status.set_error(&e);
                warn!(path = %path.name, dest = %status.url, "cannot forward: {e}");
            } else {
                info!(path = %path.name, dest = %status.url, "forward started");
            }
        }
    }

    /// How long readers wait for a publisher that left to come back.
    pub fn set_publisher_grace(&self, d: Duration) {
        *self.grace.lock() = d;
    }

    /// Applies a new configuration: live paths whose config changed or went away are
    /// closed (their clients disconnect and may reconnect under the new config, and their
    /// pull sources stop); static pull sources of new or changed paths start.
    pub fn set_conf(self: &Arc<Self>, conf: Arc<Conf>) {
        let closed: Vec<Arc<Path>> = {
            let mut reg = self.registry.lock();
            reg.conf = conf.clone();
            let mut closed = vec![];
            reg.paths.retain(|name, path| {
                let keep = matches!(conf.find_path(name), Some((pc, _)) if pc == path.conf);
                if !keep {
                    closed.push(path.clone());
                }
                keep
            });
            closed
        };
        for p in closed {
            info!(path = %p.name, "path closed: its configuration changed or was removed");
            p.shutdown("path configuration changed");
        }
        self.start_static_sources();
    }

    fn check(&self, access: &Access) -> Result<(Arc<Conf>, PathConf, Vec<String>), PathError> {
        if !valid_name(&access.path) {
            return Err(PathError::InvalidName(access.path.clone()));
        }
        let conf = self.conf();
        let (pc, groups) = conf
            .find_path(&access.path)
            .ok_or_else(|| PathError::NotConfigured(access.path.clone()))?;
        let action = match access.action {
            Action::Publish => AuthAction::Publish,
            Action::Read => AuthAction::Read,
        };
        conf.authenticate(action, &access.path, &access.user, &access.pass, access.ip)
            .map_err(|e| PathError::Auth {
                message: e.message.clone(),
                wrong_credentials: e.wrong_credentials,
            })?;
        Ok((conf, pc, groups))
    }

    fn path_for(&self, name: &str, pc: PathConf, groups: &[String]) -> Arc<Path> {
        let mut reg = self.registry.lock();
        reg.paths
            .entry(name.to_string())
            .or_insert_with(|| {
                let forwards = pc
                    .forward
                    .iter()
                    .filter(|f| !f.dest.is_empty())
                    .map(|f| {
                        Arc::new(
                            ForwardStatus::new(
                                &f.dest,
                                &crate::forward::substitute(&f.dest, name, groups),
                            )
                            .with_credentials(&f.dest_fingerprint, &f.whip_bearer_token),
                        )
                    })
                    .collect();
                let source = is_pull_source(&pc.source).then(|| {
                    let url = crate::forward::substitute(&pc.source, name, groups);
                    PathSource {
                        status: Arc::new(SourceStatus::new(&pc.source, &url)),
                        on_demand: pc.source_on_demand,
                        ready: tokio::sync::Notify::new(),
                    }
                });
                Arc::new(Path {
                    name: name.to_string(),
                    conf: pc,
                    forwards,
                    source,
                    state: Mutex::new(PathState {
                        publisher: None,
                        stream: None,
                        ready_time: None,
                        readers: BTreeMap::new(),
                        grace_generation: None,
                        source_run: None,
                        waiting: 0,
                        idle_gen: 0,
                        closed: false,
                    }),
                })
            })
            .clone()
    }

    fn forget_if_idle(&self, path: &Arc<Path>) {
        let mut reg = self.registry.lock();
        let st = path.state.lock();
        if st.publisher.is_none()
            && st.readers.is_empty()
            && st.grace_generation.is_none()
            && st.source_run.is_none()
            && st.waiting == 0
        {
            if let Some(cur) = reg.paths.get(&path.name) {
                if Arc::ptr_eq(cur, path) {
                    reg.paths.remove(&path.name);
                }
            }
        }
    }

    /// Whether `access` may publish to its path (authentication and the path's source),
    /// without attaching: protocols that announce before they publish (RTSP) ask first.
    pub fn check_publish(&self, access: &Access) -> Result<(), PathError> {
        let (_conf, pc, _) = self.check(access)?;
        if pc.source != "publisher" {
            return Err(PathError::HasSource(access.path.clone()));
        }
        Ok(())
    }

    /// Attaches a publisher to a path. The path becomes ready on [`Publisher::start`].
    pub fn add_publisher(
        self: &Arc<Self>,
        access: &Access,
        session: SessionRef,
    ) -> Result<Publisher, PathError> {
        let (_conf, pc, groups) = self.check(access)?;
        if pc.source != "publisher" {
            return Err(PathError::HasSource(access.path.clone()));
        }
        let override_publisher = pc.override_publisher;
        let path = self.path_for(&access.path, pc, &groups);
        let generation = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut st = path.state.lock();
            if let Some(old) = &st.publisher {
                if !override_publisher {
                    return Err(PathError::AlreadyPublishing(access.path.clone()));
                }
                info!(path = %path.name, old = %old.session.id, new = %session.id, "publisher replaced (overridePublisher)");
                old.session.token.cancel();
            }
            st.publisher = Some(PublisherEntry {
                session,
                generation,
            });
            st.grace_generation = None;
        }
        Ok(Publisher {
            manager: self.clone(),
            path,
            generation,
            stream: None,
            resume_at_us: None,
            shift_us: 0,
        })
    }

    /// Attaches a reader to a ready path (or one whose publisher is briefly away).
    pub fn add_reader(
        self: &Arc<Self>,
        access: &Access,
        session: SessionRef,
    ) -> Result<Reader, PathError> {
        let (conf, pc, _) = self.check(access)?;
        let max_readers = pc.max_readers;
        let existing = self.registry.lock().paths.get(&access.path).cloned();
        let path = existing.ok_or_else(|| PathError::NoOnePublishing(access.path.clone()))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut st = path.state.lock();
        let stream = st
            .stream
            .clone()
            .ok_or_else(|| PathError::NoOnePublishing(access.path.clone()))?;
        if max_readers != 0 && st.readers.len() >= max_readers {
            return Err(PathError::TooManyReaders(access.path.clone()));
        }
        let queue = stream
            .add_reader(id, conf.write_queue_size)
            .map_err(|ReadError::Closed(r)| PathError::Closed(r))?;
        st.readers.insert(id, session);
        drop(st);
        Ok(Reader {
            manager: self.clone(),
            path,
            stream,
            queue,
            id,
            renditions: Vec::new(),
        })
    }

    // ------------------------------------------------------------------ pull sources

    /// Sets the driver of pull sources whose URL has one of `schemes` ("rtmp", "rtmps").
    /// Register every driver, then call [`PathManager::start_static_sources`] once the
    /// listeners are up (a source may pull from this very server).
    pub fn set_source(&self, schemes: &[&str], factory: SourceFactory) {
        let mut sources = self.sources.lock();
        for s in schemes {
            sources.insert(s.to_ascii_lowercase(), factory.clone());
        }
    }

    /// The status of a live path's pull source (None: no such live path, or no source).
    pub fn source_status(&self, name: &str) -> Option<Arc<SourceStatus>> {
        let path = self.registry.lock().paths.get(name).cloned()?;
        path.source.as_ref().map(|s| s.status.clone())
    }

    /// Starts the pull source of every configured path that has one and is not on demand
    /// (already running ones go on). Called on start-up and after each reload.
    pub fn start_static_sources(self: &Arc<Self>) {
        let conf = self.conf();
        for (name, pc) in &conf.paths {
            if name.starts_with('~')
                || name == "all"
                || name == "all_others"
                || !is_pull_source(&pc.source)
                || pc.source_on_demand
            {
                continue;
            }
            let path = self.path_for(name, pc.clone(), &[]);
            if !self.start_source(&path, "") {
                self.forget_if_idle(&path);
            }
        }
    }

    /// Starts the path's source unless it runs. Returns whether it runs.
    fn start_source(self: &Arc<Self>, path: &Arc<Path>, query: &str) -> bool {
        let Some(src) = &path.source else {
            return false;
        };
        let scheme = source::scheme(&src.status.url);
        let factory = self.sources.lock().get(&scheme).cloned();
        let mut st = path.state.lock();
        if st.closed {
            return false;
        }
        if st.source_run.is_some() {
            return true;
        }
        let Some(factory) = factory else {
            warn!(
                "source of path '{}' ({}): no source driver is registered for {scheme}:// URLs; it is not pulled",
                path.name,
                redact(&src.status.url)
            );
            return false;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            warn!("source of path '{}': no runtime to run it", path.name);
            return false;
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        st.source_run = Some((id, token.clone()));
        drop(st);
        src.status.set_state(SourceState::Connecting);
        let url = src.status.url.replace("$MTX_QUERY", query);
        info!(
            "source of path '{}': pulling {}{}",
            path.name,
            redact(&url),
            if src.on_demand { " (on demand)" } else { "" }
        );
        rt.spawn(run_source(
            self.clone(),
            path.clone(),
            factory,
            url,
            id,
            token,
        ));
        true
    }

    /// Attaches a pull source as its path's publisher (see [`SourceCtx::publisher`]).
    pub(crate) fn attach_source(
        self: &Arc<Self>,
        path: &Arc<Path>,
        session: SessionRef,
    ) -> Result<Publisher, PathError> {
        let generation = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut st = path.state.lock();
        if st.closed {
            return Err(PathError::Closed(format!(
                "path '{}' was closed",
                path.name
            )));
        }
        // A previous attempt's publisher, if still around, goes stale: its writes are
        // ignored and its drop does nothing.
        st.publisher = Some(PublisherEntry {
            session,
            generation,
        });
        st.grace_generation = None;
        drop(st);
        Ok(Publisher {
            manager: self.clone(),
            path: path.clone(),
            generation,
            stream: None,
            resume_at_us: None,
            shift_us: 0,
        })
    }

    /// Waits until a reader of `access.path` can attach: returns at once unless the path
    /// has an on-demand pull source, which it starts (if needed) and waits for, up to the
    /// path's `sourceOnDemandStartTimeout`. Call it before [`PathManager::add_reader`];
    /// it checks authentication like `add_reader` does. Cancel-safe.
    pub async fn wait_for_source(self: &Arc<Self>, access: &Access) -> Result<(), PathError> {
        let (_conf, pc, groups) = self.check(access)?;
        if !pc.source_on_demand || !is_pull_source(&pc.source) {
            return Ok(());
        }
        let timeout = pc.source_on_demand_start_timeout;
        let path = self.path_for(&access.path, pc, &groups);
        let Some(src) = &path.source else {
            return Ok(()); // the live path still has a previous configuration
        };
        let waiter = Waiter::new(self, &path);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = src.ready.notified();
            tokio::pin!(notified);
            // Registered before the check, so a start in between still wakes us.
            notified.as_mut().enable();
            if path.is_ready() {
                return Ok(());
            }
            if !self.start_source(&path, &access.query) {
                return Err(PathError::NoOnePublishing(access.path.clone()));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if path.is_ready() {
                    return Ok(());
                }
                info!(
                    "source of path '{}' did not become ready within {timeout:?} (sourceOnDemandStartTimeout)",
                    path.name
                );
                drop(waiter);
                self.stop_if_idle(&path, None, "it did not become ready in time");
                return Err(PathError::NoOnePublishing(access.path.clone()));
            }
        }
    }

    /// After the last reader of an on-demand source left, stops the source once
    /// `sourceOnDemandCloseAfter` passed without a new one.
    fn schedule_idle_close(self: &Arc<Self>, path: &Arc<Path>) {
        if !path.source.as_ref().is_some_and(|s| s.on_demand) {
            return;
        }
        let generation = {
            let mut st = path.state.lock();
            if !st.readers.is_empty() || st.waiting > 0 || st.source_run.is_none() {
                return;
            }
            st.idle_gen += 1;
            st.idle_gen
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let delay = path.conf.source_on_demand_close_after;
        let manager = self.clone();
        let path = path.clone();
        rt.spawn(async move {
            tokio::time::sleep(delay).await;
            manager.stop_if_idle(&path, Some(generation), "no one reads it anymore");
        });
    }

    /// Stops an on-demand source without readers (`generation`: only if no later close
    /// was scheduled), and forgets its path.
    fn stop_if_idle(&self, path: &Arc<Path>, generation: Option<u64>, why: &str) {
        let stopped = {
            let mut st = path.state.lock();
            if generation.is_some_and(|g| g != st.idle_gen)
                || !st.readers.is_empty()
                || st.waiting > 0
            {
                return;
            }
            st.source_run.take()
        };
        if let Some((_, token)) = stopped {
            info!("source of path '{}' stopped: {why}", path.name);
            token.cancel();
            if let Some(src) = &path.source {
                src.status.set_state(SourceState::Idle);
            }
        }
        self.forget_if_idle(path);
    }

    /// Snapshots of live paths and of configured static paths, sorted by name.
    pub fn snapshot(&self) -> Vec<PathSnapshot> {
        let (conf, paths) = {
            let reg = self.registry.lock();
            (reg.conf.clone(), reg.paths.clone())
        };
        let mut out: BTreeMap<String, PathSnapshot> = BTreeMap::new();
        for (name, pc) in &conf.paths {
            if name.starts_with('~') || name == "all_others" || name == "all" {
                continue;
            }
            out.insert(
                name.clone(),
                PathSnapshot {
                    name: name.clone(),
                    conf_name: pc.name.clone(),
                    source: is_pull_source(&pc.source)
                        .then(|| (source::source_type(&pc.source), None)),
                    ready: false,
                    ready_time: None,
                    tracks: vec![],
                    bytes_received: 0,
                    bytes_sent: 0,
                    readers: vec![],
                },
            );
        }
        for (name, p) in paths {
            out.insert(name, p.snapshot());
        }
        out.into_values().collect()
    }

    pub fn get(&self, name: &str) -> Option<PathSnapshot> {
        self.snapshot().into_iter().find(|p| p.name == name)
    }

    /// Closes every path and stops every pull source (shutdown).
    pub fn close_all(&self, reason: &str) {
        let paths: Vec<_> = self.registry.lock().paths.drain().map(|(_, p)| p).collect();
        for p in paths {
            p.shutdown(reason);
        }
    }
}

impl Path {
    fn snapshot(&self) -> PathSnapshot {
        let st = self.state.lock();
        let (tracks, rx, tx) = match &st.stream {
            Some(s) => (
                s.source_tracks(),
                s.bytes_received.load(Ordering::Relaxed),
                s.bytes_sent.load(Ordering::Relaxed),
            ),
            None => (vec![], 0, 0),
        };
        let ready = st.stream.is_some() && st.publisher.is_some();
        PathSnapshot {
            name: self.name.clone(),
            conf_name: self.conf.name.clone(),
            source: match &self.source {
                Some(src) => Some((src.status.kind, None)),
                None => st
                    .publisher
                    .as_ref()
                    .map(|p| (p.session.kind, Some(p.session.id))),
            },
            ready,
            ready_time: if ready { st.ready_time } else { None },
            tracks,
            bytes_received: rx,
            bytes_sent: tx,
            readers: st
                .readers
                .values()
                .filter(|r| r.kind != "forward" && r.kind != "rtspMulticast")
                .map(|r| (r.kind, r.id))
                .collect(),
        }
    }

    fn close(&self, reason: &str) {
        let mut st = self.state.lock();
        if let Some(p) = st.publisher.take() {
            p.session.token.cancel();
        }
        for r in std::mem::take(&mut st.readers).into_values() {
            r.token.cancel();
        }
        st.grace_generation = None;
        if let Some(s) = st.stream.take() {
            s.close(reason);
        }
    }

    /// Closes the path for good: it left the registry. Its pull source stops.
    fn shutdown(&self, reason: &str) {
        {
            let mut st = self.state.lock();
            st.closed = true;
            if let Some((_, token)) = st.source_run.take() {
                token.cancel();
            }
        }
        if let Some(src) = &self.source {
            // Readers waiting for it give up now rather than at their timeout.
            src.ready.notify_waiters();
        }
        self.close(reason);
    }

    fn is_ready(&self) -> bool {
        let st = self.state.lock();
        st.stream.is_some() && st.publisher.is_some()
    }
}

/// A reader waiting for an on-demand source; keeps the source from being closed.
struct Waiter {
    manager: Arc<PathManager>,
    path: Arc<Path>,
}

impl Waiter {
    fn new(manager: &Arc<PathManager>, path: &Arc<Path>) -> Waiter {
        path.state.lock().waiting += 1;
        Waiter {
            manager: manager.clone(),
            path: path.clone(),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let running = {
            let mut st = self.path.state.lock();
            st.waiting -= 1;
            st.source_run.is_some()
        };
        if running {
            // Stops the source unless the reader attaches (or another comes) meanwhile.
            self.manager.schedule_idle_close(&self.path);
        } else {
            self.manager.forget_if_idle(&self.path);
        }
    }
}

/// Runs a path's pull source until `token` is cancelled: one attempt after another, with
/// a pause that doubles after each failure and starts over once an attempt published.
async fn run_source(
    manager: Arc<PathManager>,
    path: Arc<Path>,
    factory: SourceFactory,
    url: String,
    id: u64,
    token: CancellationToken,
) {
    let Some(status) = path.source.as_ref().map(|s| s.status.clone()) else {
        return;
    };
    let shown = redact(&url);
    let mut pause = MIN_RETRY_PAUSE;
    while !token.is_cancelled() {
        status.set_state(SourceState::Connecting);
        let (read_timeout, write_timeout) = {
            let c = manager.conf();
            (c.read_timeout, c.write_timeout)
        };
        let attempt = token.child_token();
        let ctx = SourceCtx {
            url: url.clone(),
            path: path.name.clone(),
            conf: path.conf.clone(),
            read_timeout,
            write_timeout,
            token: attempt.clone(),
            status: status.clone(),
            manager: manager.clone(),
            target: path.clone(),
        };
        let result = tokio::select! {
            r = (factory.0)(ctx) => r,
            _ = token.cancelled() => break,
        };
        attempt.cancel();
        if token.is_cancelled() {
            break;
        }
        if status.state().0 == SourceState::Ready {
            pause = MIN_RETRY_PAUSE;
        }
        let reason = match result {
            Ok(()) => "the remote ended the stream".to_string(),
            Err(e) => e,
        };
        warn!(
            "source of path '{}' ({shown}): {reason}; retrying in {pause:?}",
            path.name
        );
        status.set_error(&reason);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = token.cancelled() => break,
        }
        pause = (pause * 2).min(MAX_RETRY_PAUSE);
    }
    {
        let mut st = path.state.lock();
        if matches!(st.source_run, Some((i, _)) if i == id) {
            st.source_run = None;
        }
    }
    if path.state.lock().source_run.is_none() {
        status.set_state(SourceState::Idle);
    }
    manager.forget_if_idle(&path);
}

/// A path name is what MediaMTX accepts: non-empty, no leading/trailing slash, no "..",
/// printable ASCII without spaces or the characters URLs reserve.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./~:@+".contains(c))
}

/// A publisher attached to a path.
#[derive(Debug)]
pub struct Publisher {
    manager: Arc<PathManager>,
    path: Arc<Path>,
    generation: u64,
    stream: Option<Arc<Stream>>,
    /// Where the first unit lands when readers are kept across a publisher reconnect.
    resume_at_us: Option<i64>,
    /// Added to every timestamp, so those readers see time go on.
    shift_us: i64,
}

impl Publisher {
    pub fn path_name(&self) -> &str {
        &self.path.name
    }

    /// Declares the tracks and makes the path ready. When readers are still attached from
    /// a previous publisher and the tracks are compatible, they continue on this one.
    pub fn start(&mut self, tracks: Vec<Track>) -> Result<Arc<Stream>, PathError> {
        let mut st = self.path.state.lock();
        match &st.publisher {
            Some(p) if p.generation == self.generation => {}
            _ => return Err(PathError::Closed("publisher was replaced".into())),
        }
        let reuse = match &st.stream {
            Some(s) => {
                let old = s.source_tracks();
                old.len() == tracks.len() && old.iter().zip(&tracks).all(|(a, b)| a.compatible(b))
            }
            None => false,
        };
        let stream = if reuse {
            let s = st.stream.clone().expect("checked above");
            self.resume_at_us = s.last_dts_us().map(|t| t + 40_000);
            s.update_tracks(tracks);
            info!(path = %self.path.name, readers = st.readers.len(), "publisher resumed the stream; readers continue");
            s
        } else {
            if let Some(old) = st.stream.take() {
                old.close("the stream changed its tracks");
                for r in std::mem::take(&mut st.readers).into_values() {
                    r.token.cancel();
                }
            }
            let s = Arc::new(Stream::new(tracks));
            st.stream = Some(s.clone());
            s
        };
        stream.writer_gen.store(self.generation, Ordering::Release);
        st.grace_generation = None;
        st.ready_time = Some(SystemTime::now());
        drop(st);
        if let Some(src) = &self.path.source {
            src.status.set_state(SourceState::Ready);
            src.ready.notify_waiters();
            let codecs: Vec<_> = stream
                .source_tracks()
                .iter()
                .map(|t| t.codec.api_name())
                .collect();
            info!(
                "source of path '{}' is ready: {} track(s) ({})",
                self.path.name,
                codecs.len(),
                codecs.join(", ")
            );
        }
        self.stream = Some(stream.clone());
        if !reuse {
            // Forwards kept through a publisher reconnect go on with their readers.
            self.manager.start_forwards(&self.path, &stream);
        }
        Ok(stream)
    }

    pub fn stream(&self) -> Option<&Arc<Stream>> {
        self.stream.as_ref()
    }

    /// Writes one unit to every reader. Units before `start` are ignored.
    pub fn write(&mut self, mut unit: Unit) {
        let Some(stream) = &self.stream else { return };
        if stream.writer_gen.load(Ordering::Acquire) != self.generation {
            return;
        }
        if self.resume_at_us.is_some() || self.shift_us != 0 {
            let clock = stream
                .tracks()
                .get(unit.track)
                .map(|t| t.clock_rate)
                .unwrap_or(1000);
            if let Some(target) = self.resume_at_us.take() {
                // First unit after a reconnect: it lands just after the last unit readers
                // got, and every later unit keeps the same shift.
                self.shift_us = target - rescale(unit.dts, clock, 1_000_000);
            }
            let shift = rescale(self.shift_us, 1_000_000, clock);
            unit.dts += shift;
            unit.pts += shift;
        }
        stream.write(unit);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let grace = *self.manager.grace.lock();
        let mut st = self.path.state.lock();
        match &st.publisher {
            Some(p) if p.generation == self.generation => {}
            _ => return, // replaced by another publisher
        }
        st.publisher = None;
        let waiting = st.stream.is_some() && !st.readers.is_empty() && !grace.is_zero();
        let runtime = tokio::runtime::Handle::try_current().ok();
        match (waiting, runtime) {
            (true, Some(rt)) => {
                st.grace_generation = Some(self.generation);
                let path = self.path.clone();
                let manager = self.manager.clone();
                let generation = self.generation;
                rt.spawn(async move {
                    tokio::time::sleep(grace).await;
                    let expired = {
                        let mut st = path.state.lock();
                        if st.grace_generation == Some(generation) && st.publisher.is_none() {
                            st.grace_generation = None;
                            true
                        } else {
                            false
                        }
                    };
                    if expired {
                        info!(path = %path.name, "publisher did not come back; closing readers");
                        path.close("no one is publishing anymore");
                        manager.forget_if_idle(&path);
                    }
                });
            }
            _ => {
                st.grace_generation = None;
                if let Some(s) = st.stream.take() {
                    s.close("no one is publishing anymore");
                }
                for r in std::mem::take(&mut st.readers).into_values() {
                    r.token.cancel();
                }
                drop(st);
                self.manager.forget_if_idle(&self.path);
            }
        }
    }
}

/// A reader attached to a path.
#[derive(Debug)]
pub struct Reader {
    manager: Arc<PathManager>,
    path: Arc<Path>,
    stream: Arc<Stream>,
    queue: Arc<ReaderQueue>,
    id: u64,
    renditions: Vec<RenditionGuard>,
}

impl Reader {
    /// Switches this reader from track `source` to a rendition of it in `codec` (made once
    /// per stream, shared with other readers). Returns the rendition's track index.
    pub fn use_rendition(&mut self, source: usize, codec: Codec) -> Result<usize, String> {
        let factory = self
            .manager
            .transcoders
            .lock()
            .clone()
            .ok_or("this server has no transcoder for renditions")?;
        let guard = self.stream.acquire_rendition(source, codec, &factory)?;
        let track = guard.track();
        self.queue.set_track(source, false);
        self.queue.set_track(track, true);
        self.renditions.push(guard);
        Ok(track)
    }

    pub fn path_name(&self) -> &str {
        &self.path.name
    }
    pub fn stream(&self) -> &Arc<Stream> {
        &self.stream
    }
    pub fn queue(&self) -> &Arc<ReaderQueue> {
        &self.queue
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stream.remove_reader(self.id);
        let idle = {
            let mut st = self.path.state.lock();
            st.readers.remove(&self.id);
            if st.publisher.is_none() && st.readers.is_empty() {
                st.grace_generation = None;
                if let Some(s) = st.stream.take() {
                    s.close("no one is publishing anymore");
                }
                true
            } else {
                false
            }
        };
        if idle {
            self.manager.forget_if_idle(&self.path);
        }
        self.manager.schedule_idle_close(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::Codec;
    use bytes::Bytes;
    use std::net::Ipv4Addr;

    fn manager(yaml: &str) -> Arc<PathManager> {
        let (conf, _) = Conf::from_yaml(yaml, "test.yml").expect("test config");
        PathManager::new(Arc::new(conf))
    }

    fn access(action: Action, path: &str) -> Access {
        Access {
            action,
            path: path.into(),
            query: String::new(),
            user: String::new(),
            pass: String::new(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    fn session() -> SessionRef {
        SessionRef {
            kind: "rtmpConn",
            id: Uuid::new_v4(),
            token: CancellationToken::new(),
        }
    }

    fn tracks() -> Vec<Track> {
        vec![Track {
            codec: Codec::H264,
            clock_rate: 90000,
            config: Bytes::from_static(b"cfg"),
            sample_rate: 0,
            channels: 0,
        }]
    }

    const OPEN: &str = "paths:\n  all_others:\n";

    #[tokio::test(start_paused = true)]
    async fn reader_survives_publisher_reconnect_with_monotonic_time() {
        let pm = manager(OPEN);
        let mut p = pm
            .add_publisher(&access(Action::Publish, "cam"), session())
            .unwrap();
        p.start(tracks()).unwrap();
        p.write(Unit::new(
            0,
            900_000,
            900_000,
            true,
            Bytes::from_static(b"k"),
        ));
        let r = pm
            .add_reader(&access(Action::Read, "cam"), session())
            .unwrap();
        let mut out = vec![];
        r.queue().try_recv(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        drop(p);
        tokio::time::sleep(Duration::from_secs(2)).await;
        // New publisher whose clock restarts at 0.
        let mut p2 = pm
            .add_publisher(&access(Action::Publish, "cam"), session())
            .unwrap();
        p2.start(tracks()).unwrap();
        p2.write(Unit::new(0, 0, 0, true, Bytes::from_static(b"k2")));
        p2.write(Unit::new(0, 3000, 3000, false, Bytes::from_static(b"p")));
        out.clear();
        r.queue().try_recv(&mut out).unwrap();
        let dts: Vec<_> = out.iter().map(|u| u.dts).collect();
        assert_eq!(dts.len(), 2);
        assert!(dts[0] > 900_000, "{dts:?}");
        assert_eq!(dts[1] - dts[0], 3000);
    }

    #[tokio::test(start_paused = true)]
    async fn readers_closed_after_grace() {
        let pm = manager(OPEN);
        pm.set_publisher_grace(Duration::from_secs(5));
        let mut p = pm
            .add_publisher(&access(Action::Publish, "cam"), session())
            .unwrap();
        p.start(tracks()).unwrap();
        let rs = session();
        let r = pm
            .add_reader(&access(Action::Read, "cam"), rs.clone())
            .unwrap();
        drop(p);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(rs.token.is_cancelled());
        let mut out = vec![];
        assert!(r.queue().try_recv(&mut out).is_err());
        drop(r);
        assert!(pm.snapshot().is_empty());
        assert!(matches!(
            pm.add_reader(&access(Action::Read, "cam"), session()),
            Err(PathError::NoOnePublishing(_))
        ));
    }

    #[tokio::test]
    async fn second_publisher_refused_unless_override() {
        let pm = manager("paths:\n  all_others:\n    overridePublisher: no\n");
        let s1 = session();
        let _p = pm
            .add_publisher(&access(Action::Publish, "a"), s1.clone())
            .unwrap();
        assert!(matches!(
            pm.add_publisher(&access(Action::Publish, "a"), session()),
            Err(PathError::AlreadyPublishing(_))
        ));
        let pm = manager("paths:\n  all_others:\n    overridePublisher: yes\n");
        let s1 = session();
        let _p1 = pm
            .add_publisher(&access(Action::Publish, "a"), s1.clone())
            .unwrap();
        let _p2 = pm
            .add_publisher(&access(Action::Publish, "a"), session())
            .unwrap();
        assert!(s1.token.is_cancelled());
    }

    #[tokio::test]
    async fn max_readers_unconfigured_and_reload() {
        let pm = manager("paths:\n  cam:\n    maxReaders: 1\n");
        assert!(matches!(
            pm.add_publisher(&access(Action::Publish, "other"), session()),
            Err(PathError::NotConfigured(_))
        ));
        let ps = session();
        let mut p = pm
            .add_publisher(&access(Action::Publish, "cam"), ps.clone())
            .unwrap();
        p.start(tracks()).unwrap();
        let _r = pm
            .add_reader(&access(Action::Read, "cam"), session())
            .unwrap();
        assert!(matches!(
            pm.add_reader(&access(Action::Read, "cam"), session()),
            Err(PathError::TooManyReaders(_))
        ));
        let snap = pm.get("cam").unwrap();
        assert!(snap.ready);
        assert_eq!(snap.readers.len(), 1);
        // Removing the path from the config disconnects its clients.
        let (conf, _) = Conf::from_yaml("paths:\n  other:\n", "t.yml").unwrap();
        pm.set_conf(Arc::new(conf));
        assert!(ps.token.is_cancelled());
    }

    // ------------------------------------------------------------------ pull sources

    use crate::source::{SourceCtx, SourceFactory, SourceState};
    use std::sync::atomic::AtomicUsize;

    /// What the fake source driver saw: one URL per attempt, and the attempts' tokens.
    #[derive(Default)]
    struct Seen {
        urls: Mutex<Vec<String>>,
        tokens: Mutex<Vec<CancellationToken>>,
        attempts: AtomicUsize,
    }

    /// A driver whose attempts fail (`Err`) while `fail` says so, and otherwise publish
    /// one keyframe and stay until cancelled or `end` is notified.
    fn fake_source(
        seen: Arc<Seen>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        end: Arc<tokio::sync::Notify>,
    ) -> SourceFactory {
        SourceFactory::new(move |ctx: SourceCtx| {
            let (seen, fail, end) = (seen.clone(), fail.clone(), end.clone());
            Box::pin(async move {
                seen.attempts.fetch_add(1, Ordering::SeqCst);
                seen.urls.lock().push(ctx.url.clone());
                seen.tokens.lock().push(ctx.token.clone());
                if fail.load(Ordering::SeqCst) {
                    return Err("connection refused".to_string());
                }
                let mut p = ctx.publisher().map_err(|e| e.to_string())?;
                p.start(tracks()).map_err(|e| e.to_string())?;
                p.write(Unit::new(0, 0, 0, true, Bytes::from_static(b"k")));
                tokio::select! {
                    _ = ctx.token.cancelled() => Ok(()),
                    _ = end.notified() => Err("remote closed".to_string()),
                }
            })
        })
    }

    fn fake(
        pm: &Arc<PathManager>,
    ) -> (
        Arc<Seen>,
        Arc<std::sync::atomic::AtomicBool>,
        Arc<tokio::sync::Notify>,
    ) {
        let seen = Arc::new(Seen::default());
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let end = Arc::new(tokio::sync::Notify::new());
        pm.set_source(
            &["rtmp"],
            fake_source(seen.clone(), fail.clone(), end.clone()),
        );
        (seen, fail, end)
    }

    const ON_DEMAND: &str = "paths:\n  \"~^cam(\\\\d+)$\":\n    source: rtmp://origin/live/$G1?from=$MTX_PATH&$MTX_QUERY\n    sourceOnDemand: yes\n    sourceOnDemandStartTimeout: 5s\n    sourceOnDemandCloseAfter: 3s\n";

    #[tokio::test(start_paused = true)]
    async fn on_demand_source_starts_with_first_reader_and_stops_after_last() {
        let pm = manager(ON_DEMAND);
        let (seen, _fail, _end) = fake(&pm);
        assert!(
            pm.snapshot().is_empty(),
            "regex paths are not listed until used"
        );
        let mut a = access(Action::Read, "cam42");
        a.query = "q=1".into();
        pm.wait_for_source(&a).await.unwrap();
        assert_eq!(
            *seen.urls.lock(),
            vec!["rtmp://origin/live/42?from=cam42&q=1".to_string()]
        );
        let snap = pm.get("cam42").unwrap();
        assert!(snap.ready);
        assert_eq!(snap.source, Some(("rtmpSource", None)));
        let r = pm.add_reader(&a, session()).unwrap();
        let mut out = vec![];
        r.queue().try_recv(&mut out).unwrap();
        assert_eq!(out.len(), 1, "the reader gets the GOP cache");
        // A second reader does not start a second source.
        pm.wait_for_source(&a).await.unwrap();
        let r2 = pm.add_reader(&a, session()).unwrap();
        assert_eq!(seen.attempts.load(Ordering::SeqCst), 1);
        drop(r);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!seen.tokens.lock()[0].is_cancelled(), "a reader is left");
        drop(r2);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!seen.tokens.lock()[0].is_cancelled(), "before closeAfter");
        // A reader that comes and goes within closeAfter postpones the close.
        pm.wait_for_source(&a).await.unwrap();
        drop(pm.add_reader(&a, session()).unwrap());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!seen.tokens.lock()[0].is_cancelled());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            seen.tokens.lock()[0].is_cancelled(),
            "stopped after closeAfter"
        );
        tokio::task::yield_now().await;
        assert!(pm.snapshot().is_empty(), "{:?}", pm.snapshot());
        // The next reader starts it again.
        pm.wait_for_source(&a).await.unwrap();
        assert_eq!(seen.attempts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn on_demand_source_that_does_not_start_times_out() {
        let pm = manager(ON_DEMAND);
        let (seen, fail, _end) = fake(&pm);
        fail.store(true, Ordering::SeqCst);
        let a = access(Action::Read, "cam1");
        let start = tokio::time::Instant::now();
        let r = pm.wait_for_source(&a).await;
        assert!(matches!(r, Err(PathError::NoOnePublishing(_))), "{r:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        // Retried meanwhile (1 s, 2 s pauses), then stopped at the timeout.
        assert_eq!(seen.attempts.load(Ordering::SeqCst), 3);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(seen.attempts.load(Ordering::SeqCst), 3);
        assert!(pm.snapshot().is_empty());
        assert!(matches!(
            pm.add_reader(&a, session()),
            Err(PathError::NoOnePublishing(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn removing_the_path_releases_waiting_readers() {
        let pm = manager(ON_DEMAND);
        let (seen, fail, _end) = fake(&pm);
        fail.store(true, Ordering::SeqCst);
        let start = tokio::time::Instant::now();
        let waiting = {
            let pm = pm.clone();
            tokio::spawn(async move { pm.wait_for_source(&access(Action::Read, "cam1")).await })
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (conf, _) = Conf::from_yaml(OPEN, "t.yml").unwrap();
        pm.set_conf(Arc::new(conf));
        let r = waiting.await.unwrap();
        assert!(matches!(r, Err(PathError::NoOnePublishing(_))), "{r:?}");
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        assert!(seen.tokens.lock().iter().all(|t| t.is_cancelled()));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_reader_that_leaves_lets_the_source_stop() {
        let pm = manager(ON_DEMAND);
        let (seen, fail, _end) = fake(&pm);
        fail.store(true, Ordering::SeqCst);
        let a = access(Action::Read, "cam1");
        // The client goes away while waiting (the future is dropped).
        let r = tokio::time::timeout(Duration::from_millis(1500), pm.wait_for_source(&a)).await;
        assert!(r.is_err());
        tokio::time::sleep(Duration::from_secs(4)).await;
        let n = seen.attempts.load(Ordering::SeqCst);
        assert!(seen.tokens.lock().iter().all(|t| t.is_cancelled()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(seen.attempts.load(Ordering::SeqCst), n);
        assert!(pm.snapshot().is_empty());
    }

    const STATIC: &str = "paths:\n  pulled:\n    source: rtmp://origin/live/$MTX_PATH\n  pub:\n";

    #[tokio::test(start_paused = true)]
    async fn static_source_retries_with_backoff_and_readers_survive_a_reconnect() {
        let pm = manager(STATIC);
        // Before a driver is registered: listed with its source type, not ready.
        let snap = pm.get("pulled").unwrap();
        assert_eq!(snap.source, Some(("rtmpSource", None)));
        assert!(!snap.ready);
        let (seen, fail, end) = fake(&pm);
        fail.store(true, Ordering::SeqCst);
        pm.start_static_sources();
        // Idempotent: a second call does not start a second loop.
        pm.start_static_sources();
        // 1 + attempts after pauses of 1, 2, 4, 8, 10 s.
        tokio::time::sleep(Duration::from_millis(25_500)).await;
        assert_eq!(seen.attempts.load(Ordering::SeqCst), 6);
        assert_eq!(seen.urls.lock()[0], "rtmp://origin/live/pulled");
        let status = pm.source_status("pulled").unwrap();
        assert_eq!(
            status.state(),
            (SourceState::Error, "connection refused".to_string())
        );
        assert!(matches!(
            pm.wait_for_source(&access(Action::Read, "pulled")).await,
            Ok(())
        ));
        assert!(matches!(
            pm.add_reader(&access(Action::Read, "pulled"), session()),
            Err(PathError::NoOnePublishing(_))
        ));
        assert!(matches!(
            pm.add_publisher(&access(Action::Publish, "pulled"), session()),
            Err(PathError::HasSource(_))
        ));
        fail.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(pm.get("pulled").unwrap().ready);
        assert_eq!(status.state().0, SourceState::Ready);
        let rs = session();
        let r = pm
            .add_reader(&access(Action::Read, "pulled"), rs.clone())
            .unwrap();
        let mut out = vec![];
        r.queue().try_recv(&mut out).unwrap();
        // The remote drops: the reader stays through the reconnect (1 s after a success).
        let before = seen.attempts.load(Ordering::SeqCst);
        end.notify_one();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!pm.get("pulled").unwrap().ready);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(seen.attempts.load(Ordering::SeqCst), before + 1);
        assert!(pm.get("pulled").unwrap().ready);
        assert!(!rs.token.is_cancelled());
        out.clear();
        r.queue().try_recv(&mut out).unwrap();
        assert_eq!(out.len(), 1, "the reader continues on the new attempt");
        drop(r);
        // Static sources keep running without readers; removing the path stops them.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(pm.get("pulled").unwrap().ready);
        let last = seen.tokens.lock().last().cloned().unwrap();
        let (conf, _) = Conf::from_yaml("paths:\n  pub:\n", "t.yml").unwrap();
        pm.set_conf(Arc::new(conf));
        assert!(last.is_cancelled());
        tokio::task::yield_now().await;
        assert!(pm.get("pulled").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn reload_starts_added_sources_and_unknown_schemes_do_not_crash() {
        let pm = manager("paths:\n  cam:\n    source: rtsp://camera/stream\n");
        let (seen, _fail, _end) = fake(&pm);
        pm.start_static_sources();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(seen.attempts.load(Ordering::SeqCst), 0, "no rtsp driver");
        let snap = pm.get("cam").unwrap();
        assert_eq!(snap.source, Some(("rtspSource", None)));
        let (conf, _) = Conf::from_yaml(
            "paths:\n  cam:\n    source: rtsp://camera/stream\n  new:\n    source: rtmp://o/live/x\n",
            "t.yml",
        )
        .unwrap();
        pm.set_conf(Arc::new(conf));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(*seen.urls.lock(), vec!["rtmp://o/live/x".to_string()]);
        assert!(pm.get("new").unwrap().ready);
    }

    #[test]
    fn names() {
        assert!(valid_name("live/test"));
        assert!(!valid_name("/x"));
        assert!(!valid_name("a//b"));
        assert!(!valid_name("a/../b"));
        assert!(!valid_name("a b"));
    }
}
