//! Ferrocast configuration: the `mediamtx.yml` schema (every MediaMTX key, with
//! MediaMTX's names, types and defaults), strict loading with `file:line:col`
//! errors, environment overrides, validation, the API's JSON shapes and patches,
//! path lookup and internal authentication.
//!
//! ```
//! use ferrocast_conf::Conf;
//!
//! let (conf, warnings) = Conf::from_yaml("rtmpAddress: :1936\npaths:\n  all_others:\n", "mediamtx.yml")
//!     .expect("valid configuration");
//! assert!(warnings.is_empty());
//! assert_eq!(conf.rtmp_address, ":1936");
//! let (path, groups) = conf.find_path("mystream").expect("all_others matches");
//! assert_eq!(path.name, "all_others");
//! assert!(groups.is_empty());
//! ```

mod auth;
mod env;
mod error;
mod locate;
mod schema;
mod types;
mod units;
mod validate;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::locate::{format_path, PathElem};
use crate::schema::{OptionalGlobal, OptionalPathConf};

pub use crate::error::{AuthError, ConfError};
pub use crate::schema::{default_auth_internal_users, Conf, PathConf, GLOBAL_KEYS, PATH_KEYS};
pub use crate::types::{
    AlwaysAvailableTrack, AuthAction, AuthInternalUser, AuthMethod, AuthPermission, Encryption,
    ForwardDest, HlsVariant, LogDestination, LogLevel, RecordFormat, RtspAuthMethod, RtspRangeType,
    RtspSourceTransport, RtspTransport, WebRtcIceServer,
};
pub use crate::units::{duration, format_duration, format_size, parse_duration, parse_size, size};

/// Global keys that Ferrocast implements. Setting any other (valid) global key
/// works but produces a warning.
pub const IMPLEMENTED_GLOBAL_KEYS: &[&str] = &[
    "logLevel",
    "logDestinations",
    "readTimeout",
    "writeTimeout",
    "writeQueueSize",
    "authMethod",
    "authInternalUsers",
    "api",
    "apiAddress",
    "apiAllowOrigins",
    "apiTrustedProxies",
    "rtmp",
    "rtmpAddress",
    "rtmpEncryption",
    "rtmpsAddress",
    "rtmpServerKey",
    "rtmpServerCert",
    "webrtc",
    "webrtcAddress",
    "webrtcAllowOrigins",
    "webrtcLocalUDPAddress",
    "webrtcIPsFromInterfaces",
    "webrtcAdditionalHosts",
    "webrtcHandshakeTimeout",
    "rtsp",
    "rtspAddress",
    "rtspTransports",
    "rtspAuthMethods",
    "rtspEncryption",
    "rtspsAddress",
    "rtspServerKey",
    "rtspServerCert",
    "rtpAddress",
    "rtcpAddress",
    "multicastIPRange",
    "multicastRTPPort",
    "multicastRTCPPort",
    "srtpAddress",
    "srtcpAddress",
    "multicastSRTPPort",
    "multicastSRTCPPort",
    "pathDefaults",
    "paths",
];

/// Path keys (in `pathDefaults` or in a path) that Ferrocast implements.
pub const IMPLEMENTED_PATH_KEYS: &[&str] = &[
    "source",
    "overridePublisher",
    "maxReaders",
    "name",
    "forward",
    "sourceFingerprint",
    "sourceOnDemand",
    "sourceOnDemandStartTimeout",
    "sourceOnDemandCloseAfter",
    "rtspTransport",
    "rtspAnyPort",
    "rtspUDPSourcePortRange",
];

/// Where [`Conf::load`] says the configuration came from when no file was found.
pub const EMBEDDED_DEFAULT: &str = "embedded default";

/// File looked for by [`Conf::load`] when no path is given.
pub const DEFAULT_FILE_NAME: &str = "mediamtx.yml";

static DEFAULT_YAML: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../mediamtx.yml"));

/// Keys set by a file (or body) that Ferrocast accepts but does not implement.
#[derive(Default)]
struct Unimplemented(Vec<&'static str>);

impl Unimplemented {
    fn add(&mut self, key: &'static str) {
        if !self.0.contains(&key) {
            self.0.push(key);
        }
    }
}

impl Conf {
    /// The default configuration file shipped with Ferrocast (`mediamtx.yml`).
    pub fn default_yaml() -> &'static str {
        DEFAULT_YAML
    }

    /// Parses and validates a `mediamtx.yml` text. `file_name` is used in error messages.
    ///
    /// Returns the configuration and warnings (at most one today: the list of keys the
    /// text sets that are valid MediaMTX keys but not implemented by Ferrocast).
    pub fn from_yaml(text: &str, file_name: &str) -> Result<(Conf, Vec<String>), ConfError> {
        let opt: OptionalGlobal =
            serde_saphyr::from_str(text).map_err(|e| yaml_error(&e, text, file_name))?;
        let mut unimplemented = Unimplemented::default();
        let result = Conf::from_optional(opt, &mut unimplemented).and_then(|conf| {
            conf.validate()?;
            Ok(conf)
        });
        let conf = result.map_err(|e| locate_error(e, text, file_name))?;
        let mut warnings = Vec::new();
        if !unimplemented.0.is_empty() {
            warnings.push(format!(
                "these mediamtx.yml keys are accepted but not implemented yet and have no effect: {}",
                unimplemented.0.join(", ")
            ));
        }
        if conf.auth_method != AuthMethod::Internal {
            warnings.push(format!(
                "authMethod \"{}\" is not implemented yet: every request that needs authentication will be refused",
                conf.auth_method
            ));
        }
        Ok((conf, warnings))
    }

    /// Loads the configuration: from `path` if given; otherwise from `./mediamtx.yml`
    /// if it exists, else from the embedded default. Then applies `MTX_*` environment
    /// variables and validates.
    ///
    /// Returns the configuration, the warnings and where it came from (the file path,
    /// or `"embedded default"`).
    pub fn load(path: Option<&Path>) -> Result<(Conf, Vec<String>, String), ConfError> {
        let (text, source) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfError::new(format!(
                        "cannot read configuration file {}: {e}",
                        p.display()
                    ))
                })?;
                (text, p.display().to_string())
            }
            None => {
                let p = Path::new(DEFAULT_FILE_NAME);
                if p.is_file() {
                    let text = std::fs::read_to_string(p).map_err(|e| {
                        ConfError::new(format!(
                            "cannot read configuration file {}: {e}",
                            p.display()
                        ))
                    })?;
                    (text, DEFAULT_FILE_NAME.to_string())
                } else {
                    (DEFAULT_YAML.to_string(), EMBEDDED_DEFAULT.to_string())
                }
            }
        };
        let (mut conf, warnings) = Conf::from_yaml(&text, &source)?;
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        conf.apply_env(vars)?;
        conf.validate().map_err(|e| {
            e.with_prefix("invalid configuration after applying MTX_* environment variables: ")
        })?;
        Ok((conf, warnings, source))
    }

    /// Applies MediaMTX-style environment overrides: `MTX_` + the key in upper case,
    /// nested keys and list indexes joined with `_`:
    /// `MTX_RTMPADDRESS=:1936`, `MTX_PATHDEFAULTS_MAXREADERS=5`,
    /// `MTX_PATHS_CAM_SOURCE=rtsp://...` (creates path `cam` if needed),
    /// `MTX_AUTHINTERNALUSERS_0_USER=admin`, `MTX_LOGDESTINATIONS=stdout,file`.
    /// Booleans accept `yes`/`no`/`true`/`false`. Variables that name no key are ignored.
    /// Does not validate the result (see [`Conf::validate`]).
    pub fn apply_env(
        &mut self,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<(), ConfError> {
        env::apply(self, vars)
    }

    /// Checks the configuration as MediaMTX does (and a bit more): path names and
    /// regular expressions, `writeQueueSize` a power of two, listener addresses,
    /// IPs/CIDRs, permission actions, path sources...
    pub fn validate(&self) -> Result<(), ConfError> {
        validate::validate(self)
    }

    // ---------------------------------------------------------------- API JSON

    /// The global configuration as the API's `GlobalConf` object (no `pathDefaults`/`paths`).
    pub fn global_json(&self) -> Value {
        to_json(self)
    }

    /// Applies an API patch of the global configuration (any subset of `GlobalConf`)
    /// and returns the new validated configuration. Unknown keys are errors.
    pub fn patch_global(&self, patch: &Value) -> Result<Conf, ConfError> {
        let mut opt: OptionalGlobal = parse_body(patch, &["pathDefaults", "paths"])?;
        let mut unimplemented = Unimplemented::default();
        normalize_global(&mut opt, &mut unimplemented)?;
        let mut conf = self.clone();
        opt.apply_to(&mut conf);
        conf.validate()?;
        Ok(conf)
    }

    /// `pathDefaults` as the API's `PathConf` object.
    pub fn path_defaults_json(&self) -> Value {
        to_json(&self.path_defaults)
    }

    /// Applies an API patch of `pathDefaults`; every path is resolved again.
    pub fn patch_path_defaults(&self, patch: &Value) -> Result<Conf, ConfError> {
        let mut opt: OptionalPathConf = parse_body(patch, &[])?;
        normalize_path(&mut opt, Vec::new(), &mut Unimplemented::default())?;
        let mut conf = self.clone();
        opt.apply_to(&mut conf.path_defaults);
        conf.resolve_paths();
        conf.validate()?;
        Ok(conf)
    }

    /// The resolved configuration of the configured path `name` (a key of `paths`),
    /// as the API's `PathConf` object, including `"name"`.
    pub fn path_json(&self, name: &str) -> Option<Value> {
        self.paths.get(name).map(to_json)
    }

    /// Every configured path as `PathConf` objects, in file order.
    pub fn paths_json(&self) -> Vec<Value> {
        self.paths.values().map(to_json).collect()
    }

    /// Adds the path `name` with the keys of `body` (any subset of `PathConf`).
    /// Error if it already exists.
    pub fn add_path(&self, name: &str, body: &Value) -> Result<Conf, ConfError> {
        if self.path_own.contains_key(name) {
            return Err(ConfError::new(format!("path \"{name}\" already exists")));
        }
        let own = parse_path_body(name, body)?;
        let mut conf = self.clone();
        conf.path_own.insert(name.to_string(), own);
        conf.resolve_paths();
        conf.validate()?;
        Ok(conf)
    }

    /// Merges the keys of `body` into the own keys of path `name`. Error if missing.
    pub fn patch_path(&self, name: &str, body: &Value) -> Result<Conf, ConfError> {
        let own = parse_path_body(name, body)?;
        let mut conf = self.clone();
        let existing = conf
            .path_own
            .get_mut(name)
            .ok_or_else(|| path_not_found(name))?;
        existing.merge_from(&own);
        conf.resolve_paths();
        conf.validate()?;
        Ok(conf)
    }

    /// Replaces the own keys of path `name` with the keys of `body` (the others come
    /// from `pathDefaults`). Error if missing.
    pub fn replace_path(&self, name: &str, body: &Value) -> Result<Conf, ConfError> {
        let own = parse_path_body(name, body)?;
        let mut conf = self.clone();
        let existing = conf
            .path_own
            .get_mut(name)
            .ok_or_else(|| path_not_found(name))?;
        *existing = own;
        conf.resolve_paths();
        conf.validate()?;
        Ok(conf)
    }

    /// Removes the path `name`. Error if missing.
    pub fn delete_path(&self, name: &str) -> Result<Conf, ConfError> {
        let mut conf = self.clone();
        if conf.path_own.shift_remove(name).is_none() {
            return Err(path_not_found(name));
        }
        conf.resolve_paths();
        Ok(conf)
    }

    /// Finds the configuration of a concrete path name, as MediaMTX does: the path
    /// with exactly that name first; then `~regex` paths in file order; then
    /// `all_others` (or its old alias `all`). Returns the configuration and the
    /// capture groups of the regular expression (group 0 excluded; empty for static
    /// names). Regular expressions are searched in the name like MediaMTX (Go's
    /// `FindStringSubmatch`): anchor them with `^...$` to match the whole name.
    /// Returns `None` when nothing matches or `name` is not a valid path name.
    pub fn find_path(&self, name: &str) -> Option<(PathConf, Vec<String>)> {
        if validate::check_path_name(name).is_err() {
            return None;
        }
        if let Some(p) = self.paths.get(name) {
            if !p.name.starts_with('~') {
                return Some((p.clone(), Vec::new()));
            }
        }
        for (key, p) in &self.paths {
            let Some(expr) = key.strip_prefix('~') else {
                continue;
            };
            let Ok(re) = regex::Regex::new(expr) else {
                continue;
            };
            if let Some(caps) = re.captures(name) {
                let groups = caps
                    .iter()
                    .skip(1)
                    .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
                    .collect();
                return Some((p.clone(), groups));
            }
        }
        for key in ["all_others", "all"] {
            if let Some(p) = self.paths.get(key) {
                return Some((p.clone(), Vec::new()));
            }
        }
        None
    }

    /// Checks whether someone may perform `action` on `path`, with the internal
    /// users (`authInternalUsers`), as MediaMTX does. See [`AuthError`].
    pub fn authenticate(
        &self,
        action: AuthAction,
        path: &str,
        user: &str,
        pass: &str,
        ip: std::net::IpAddr,
    ) -> Result<(), AuthError> {
        auth::authenticate(self, action, path, user, pass, ip)
    }

    // ---------------------------------------------------------------- internals

    fn from_optional(
        mut opt: OptionalGlobal,
        unimplemented: &mut Unimplemented,
    ) -> Result<Conf, ConfError> {
        normalize_global(&mut opt, unimplemented)?;
        for key in opt.set_keys() {
            if !IMPLEMENTED_GLOBAL_KEYS.contains(&key) {
                unimplemented.add(key);
            }
        }
        let mut conf = Conf::default();
        opt.apply_to(&mut conf);
        if let Some(mut defaults) = opt.path_defaults.take() {
            normalize_path(&mut defaults, vec![key("pathDefaults")], unimplemented)?;
            note_path_keys(&defaults, unimplemented);
            defaults.apply_to(&mut conf.path_defaults);
        }
        if let Some(paths) = opt.paths.take() {
            for (name, own) in paths {
                let mut own = own.unwrap_or_default();
                normalize_path(&mut own, vec![key("paths"), key(&name)], unimplemented)?;
                note_path_keys(&own, unimplemented);
                conf.path_own.insert(name, own);
            }
        }
        conf.resolve_paths();
        Ok(conf)
    }

    /// Rebuilds `paths` from `pathDefaults` and each path's own keys.
    pub(crate) fn resolve_paths(&mut self) {
        let mut paths = indexmap::IndexMap::with_capacity(self.path_own.len());
        for (name, own) in &self.path_own {
            let mut p = self.path_defaults.clone();
            own.apply_to(&mut p);
            p.name = name.clone();
            paths.insert(name.clone(), p);
        }
        self.paths = paths;
    }
}

fn key(s: &str) -> PathElem {
    PathElem::Key(s.to_string())
}

fn path_not_found(name: &str) -> ConfError {
    ConfError::not_found(format!("path \"{name}\" not found"))
}

fn note_path_keys(opt: &OptionalPathConf, unimplemented: &mut Unimplemented) {
    for key in opt.set_keys() {
        if !IMPLEMENTED_PATH_KEYS.contains(&key) {
            unimplemented.add(key);
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
}

fn value_is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn deprecated_bool(v: &Value, path: &[PathElem], dkey: &str) -> Result<bool, ConfError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => {
            let mut p = path.to_vec();
            p.push(key(dkey));
            Err(ConfError::at(p, "must be a boolean"))
        }
    }
}

/// Turns the deprecated global keys into their replacements, or rejects them.
fn normalize_global(
    opt: &mut OptionalGlobal,
    unimplemented: &mut Unimplemented,
) -> Result<(), ConfError> {
    let mut rtmp = None;
    for (dkey, v) in opt.deprecated_set() {
        match dkey {
            "rtmpDisable" => rtmp = Some(!deprecated_bool(v, &[], dkey)?),
            "externalAuthenticationURL" if !value_is_empty(v) => {
                return Err(ConfError::at(
                    vec![key(dkey)],
                    "this deprecated key is not supported: use authMethod: http and authHTTPAddress",
                ));
            }
            _ => unimplemented.add(dkey),
        }
    }
    if let Some(r) = rtmp {
        if opt.rtmp.is_none() {
            opt.rtmp = Some(r);
        }
    }
    opt.clear_deprecated();
    Ok(())
}

/// Turns the deprecated path keys into their replacements, or rejects them.
fn normalize_path(
    opt: &mut OptionalPathConf,
    path: Vec<PathElem>,
    unimplemented: &mut Unimplemented,
) -> Result<(), ConfError> {
    let mut override_publisher = None;
    for (dkey, v) in opt.deprecated_set() {
        match dkey {
            "disablePublisherOverride" => {
                override_publisher = Some(!deprecated_bool(v, &path, dkey)?)
            }
            "publishUser" | "publishPass" | "publishIPs" | "readUser" | "readPass" | "readIPs"
                if !value_is_empty(v) =>
            {
                let mut p = path.clone();
                p.push(key(dkey));
                return Err(ConfError::at(
                    p,
                    "this deprecated key is not supported: use authInternalUsers",
                ));
            }
            "publishUser" | "publishPass" | "publishIPs" | "readUser" | "readPass" | "readIPs" => {}
            _ => unimplemented.add(dkey),
        }
    }
    if let Some(o) = override_publisher {
        if opt.override_publisher.is_none() {
            opt.override_publisher = Some(o);
        }
    }
    opt.clear_deprecated();
    opt.name = None;
    Ok(())
}

fn parse_path_body(name: &str, body: &Value) -> Result<OptionalPathConf, ConfError> {
    let mut own: OptionalPathConf = parse_body(body, &[])?;
    normalize_path(
        &mut own,
        vec![key("paths"), key(name)],
        &mut Unimplemented::default(),
    )?;
    Ok(own)
}

/// Reads an API body strictly, one key at a time so that errors name the key.
fn parse_body<T: DeserializeOwned>(body: &Value, forbidden: &[&str]) -> Result<T, ConfError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ConfError::new("invalid body: expected a JSON object"))?;
    for (k, v) in obj {
        if forbidden.contains(&k.as_str()) {
            return Err(ConfError::new(format!("unknown key \"{k}\"")));
        }
        let mut single = serde_json::Map::new();
        single.insert(k.clone(), v.clone());
        if let Err(e) = serde_json::from_value::<T>(Value::Object(single)) {
            let msg = e.to_string();
            if msg.starts_with("unknown field") {
                let suggestion = suggest(k, &expected_fields(&msg));
                return Err(ConfError::new(format!("unknown key \"{k}\"{suggestion}")));
            }
            return Err(ConfError::new(format!(
                "invalid value for key \"{k}\": {msg}"
            )));
        }
    }
    serde_json::from_value(body.clone()).map_err(|e| ConfError::new(format!("invalid body: {e}")))
}

/// The field names listed in serde's "unknown field `x`, expected ..." message.
fn expected_fields(msg: &str) -> Vec<String> {
    let Some((_, expected)) = msg.split_once("expected ") else {
        return Vec::new();
    };
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    expected
        .split(", ")
        .flat_map(|s| s.split(" or "))
        .map(|s| s.trim().trim_matches('`').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// ` (did you mean "x"?)` when a candidate is close to `key`.
fn suggest(key: &str, candidates: &[String]) -> String {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = if c.to_ascii_lowercase() == lower {
            0
        } else {
            levenshtein(&lower, &c.to_ascii_lowercase())
        };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    match best {
        Some((d, c)) if d == 0 || (d <= 2 && key.len() >= 4) || (d <= 3 && key.len() >= 8) => {
            format!(" (did you mean \"{c}\"?)")
        }
        _ => String::new(),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Turns a serde-saphyr error into `file:line:col: message`, naming the key.
fn yaml_error(err: &serde_saphyr::Error, text: &str, file_name: &str) -> ConfError {
    let location = err
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .filter(|(line, _)| *line > 0);
    let mut msg = err.without_snippet().to_string();
    // serde-saphyr appends " at line L, column C" to the message.
    if let Some(pos) = msg.rfind(" at line ") {
        if msg[pos..].contains(", column ") {
            msg.truncate(pos);
        }
    }
    let index = locate::index_keys(text);
    let key_path = location.and_then(|(line, col)| locate::key_path_at(&index, line, col));

    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let unknown = rest.split('`').next().unwrap_or_default().to_string();
        let suggestion = suggest(&unknown, &expected_fields(&msg));
        let parent = key_path
            .as_ref()
            .filter(|p| p.last() == Some(&PathElem::Key(unknown.clone())))
            .map(|p| format_path(&p[..p.len() - 1]))
            .filter(|p| !p.is_empty());
        msg = match parent {
            Some(parent) => format!("unknown key \"{unknown}\" in {parent}{suggestion}"),
            None => format!("unknown key \"{unknown}\"{suggestion}"),
        };
    } else if let Some(rest) = msg.strip_prefix("duplicate mapping key: ") {
        let dup = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        msg = format!("duplicate key \"{dup}\"");
    } else if msg.starts_with("multiple YAML documents") {
        msg = "the file must hold exactly one YAML document (found a second \"---\")".to_string();
    } else {
        msg = friendly_message(msg);
        if let Some(path) = key_path.filter(|p| !p.is_empty()) {
            msg = format!("{}: {msg}", format_path(&path));
        }
    }
    match location {
        Some((line, col)) => ConfError::new(format!("{file_name}:{line}:{col}: {msg}")),
        None => ConfError::new(format!("{file_name}: {msg}")),
    }
}

/// Rewords serde-saphyr's terse type errors.
fn friendly_message(msg: String) -> String {
    let integer = |max: &str| format!("expected an integer between 0 and {max}");
    match msg.as_str() {
        "invalid u8" => integer("255"),
        "invalid u16" => integer("65535"),
        "invalid u32" => integer("4294967295"),
        "invalid u64" | "invalid usize" => "expected a non-negative integer".to_string(),
        "invalid i64" | "invalid i32" => "expected an integer".to_string(),
        "invalid f64" | "invalid f32" => "expected a number".to_string(),
        "invalid boolean" => "expected yes, no, true or false".to_string(),
        "expected sequence start" => "expected a list".to_string(),
        "expected mapping start" => "expected a mapping (key: value pairs)".to_string(),
        "expected string scalar" => "expected a string".to_string(),
        _ => msg,
    }
}

/// Puts `file:line:col:` in front of a validation error that names a key.
fn locate_error(err: ConfError, text: &str, file_name: &str) -> ConfError {
    let position = err.key_path.as_ref().and_then(|path| {
        let index = locate::index_keys(text);
        locate::locate_nearest(&index, path)
    });
    match position {
        Some((line, col)) => err.with_prefix(&format!("{file_name}:{line}:{col}: ")),
        None => err.with_prefix(&format!("{file_name}: ")),
    }
}

#[cfg(test)]
mod tests;
