//! `MTX_*` environment overrides, as MediaMTX does them.
//!
//! The configuration is turned into JSON (which carries every key with its type),
//! each variable is applied to that tree (`MTX_A_B_0_C` walks key `a`, key `b`,
//! item 0, key `c`; names compare case-insensitively), and the top-level keys that
//! were touched are read back strictly, like an API patch.

use std::cmp::Ordering;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ConfError;
use crate::schema::{Conf, OptionalGlobal, OptionalPathConf, PATH_KEYS};
use crate::types::{
    AlwaysAvailableTrack, AuthInternalUser, AuthPermission, ForwardDest, WebRtcIceServer,
};

/// Keys touched by the variables, with the variable that touched each one.
type Touched = Vec<(String, String)>;

fn touch(touched: &mut Touched, key: String, var: &str) {
    if let Some(entry) = touched.iter_mut().find(|(k, _)| *k == key) {
        entry.1 = var.to_string();
    } else {
        touched.push((key, var.to_string()));
    }
}

/// Orders variable names segment by segment, numbers numerically, so that list
/// items are created in order (`_2_` before `_10_`).
fn compare_names(a: &str, b: &str) -> Ordering {
    let mut sa = a.split('_');
    let mut sb = b.split('_');
    loop {
        match (sa.next(), sb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(nx), Ok(ny)) => nx.cmp(&ny),
                    _ => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A new, empty item for the list stored under `key`.
fn template(key: &str) -> Option<Value> {
    match key {
        "authInternalUsers" => Some(to_json(&AuthInternalUser::default())),
        "permissions" | "authHTTPExclude" | "authJWTExclude" => {
            Some(to_json(&AuthPermission::default()))
        }
        "webrtcICEServers2" => Some(to_json(&WebRtcIceServer::default())),
        "forward" => Some(to_json(&ForwardDest::default())),
        "alwaysAvailableTracks" => Some(to_json(&AlwaysAvailableTrack::default())),
        _ => None,
    }
}

fn parse_bool(value: &str, var: &str) -> Result<bool, ConfError> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(ConfError::new(format!(
            "environment variable {var}: invalid value \"{value}\": expected yes, no, true or false"
        ))),
    }
}

fn parse_number(value: &str, like: &serde_json::Number, var: &str) -> Result<Value, ConfError> {
    let bad = || {
        ConfError::new(format!(
            "environment variable {var}: invalid value \"{value}\": expected a number"
        ))
    };
    let v = value.trim();
    if like.is_f64() {
        let f: f64 = v.parse().map_err(|_| bad())?;
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(bad)
    } else if let Ok(u) = v.parse::<u64>() {
        Ok(Value::from(u))
    } else {
        v.parse::<i64>().map(Value::from).map_err(|_| bad())
    }
}

fn set_leaf(node: &mut Value, value: &str, parent_key: &str, var: &str) -> Result<bool, ConfError> {
    let new = match node {
        Value::String(_) | Value::Null => Value::String(value.to_string()),
        Value::Bool(_) => Value::Bool(parse_bool(value, var)?),
        Value::Number(n) => parse_number(value, n, var)?,
        Value::Array(items) => {
            let like = items.first().cloned().or_else(|| template(parent_key));
            if matches!(like, Some(Value::Object(_))) {
                return Err(ConfError::new(format!(
                    "environment variable {var}: this list cannot be set from one variable; set its items with {var}_0_..., {var}_1_..."
                )));
            }
            let parts = value.split(',').map(str::trim).filter(|s| !s.is_empty());
            match like {
                Some(Value::Number(n)) => parts
                    .map(|p| parse_number(p, &n, var))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)?,
                _ => Value::Array(parts.map(|p| Value::String(p.to_string())).collect()),
            }
        }
        Value::Object(_) => return Ok(false),
    };
    *node = new;
    Ok(true)
}

fn set_in(
    node: &mut Value,
    segments: &[&str],
    value: &str,
    parent_key: &str,
    var: &str,
) -> Result<bool, ConfError> {
    let Some((first, rest)) = segments.split_first() else {
        return set_leaf(node, value, parent_key, var);
    };
    match node {
        Value::Object(map) => {
            let Some(key) = map.keys().find(|k| k.eq_ignore_ascii_case(first)).cloned() else {
                return Ok(false);
            };
            match map.get_mut(&key) {
                Some(child) => set_in(child, rest, value, &key, var),
                None => Ok(false),
            }
        }
        Value::Array(items) => {
            let Ok(index) = first.parse::<usize>() else {
                return Ok(false);
            };
            if index == items.len() {
                let Some(new_item) = template(parent_key) else {
                    return Ok(false);
                };
                items.push(new_item);
            }
            match items.get_mut(index) {
                Some(item) => set_in(item, rest, value, parent_key, var),
                None => Err(ConfError::new(format!(
                    "environment variable {var}: item {index} of {parent_key} does not exist (items must be numbered from 0 without gaps)"
                ))),
            }
        }
        _ => Ok(false),
    }
}

/// Applies one variable (without its `MTX_...` section prefix) to a section's JSON.
/// Returns the top-level key it changed, if it named one.
fn set(root: &mut Value, rest: &str, value: &str, var: &str) -> Result<Option<String>, ConfError> {
    let segments: Vec<&str> = rest.split('_').collect();
    let Some(first) = segments.first() else {
        return Ok(None);
    };
    let Value::Object(map) = root else {
        return Ok(None);
    };
    let Some(key) = map.keys().find(|k| k.eq_ignore_ascii_case(first)).cloned() else {
        return Ok(None);
    };
    let Some(child) = map.get_mut(&key) else {
        return Ok(None);
    };
    if set_in(child, &segments[1..], value, &key, var)? {
        Ok(Some(key))
    } else {
        Ok(None)
    }
}

/// Splits `CAM_SOURCE` into the path name and the rest (`cam`, `SOURCE`).
/// Existing paths are matched case-insensitively (longest name first); otherwise the
/// name is everything before the first segment that is a path key, in lower case.
fn split_path_var<'a>(conf: &Conf, rest: &'a str) -> Option<(String, &'a str)> {
    let is_path_key = |s: &str| {
        let seg = s.split('_').next().unwrap_or_default();
        PATH_KEYS.iter().any(|k| k.eq_ignore_ascii_case(seg))
    };
    let mut names: Vec<&String> = conf.path_own.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        if rest.len() > name.len() + 1
            && rest.is_char_boundary(name.len())
            && rest[..name.len()].eq_ignore_ascii_case(name)
            && rest[name.len()..].starts_with('_')
        {
            let after = &rest[name.len() + 1..];
            if is_path_key(after) {
                return Some((name.clone(), after));
            }
        }
    }
    let mut offset = 0;
    for segment in rest.split('_') {
        if offset > 0 && is_path_key(&rest[offset..]) {
            let name = rest[..offset - 1].to_ascii_lowercase();
            return Some((name, &rest[offset..]));
        }
        offset += segment.len() + 1;
    }
    None
}

/// Reads the touched keys of `json` strictly; errors name the variable.
fn read_back<T: DeserializeOwned>(json: &Value, touched: &Touched) -> Result<T, ConfError> {
    let mut patch = Map::new();
    for (key, var) in touched {
        let v = json.get(key).cloned().unwrap_or(Value::Null);
        let mut single = Map::new();
        single.insert(key.clone(), v.clone());
        crate::parse_body::<T>(&Value::Object(single), &[])
            .map_err(|e| e.with_prefix(&format!("environment variable {var}: ")))?;
        patch.insert(key.clone(), v);
    }
    crate::parse_body::<T>(&Value::Object(patch), &[])
}

pub(crate) fn apply(
    conf: &mut Conf,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<(), ConfError> {
    let mut vars: Vec<(String, String)> = vars.filter(|(k, _)| k.starts_with("MTX_")).collect();
    if vars.is_empty() {
        return Ok(());
    }
    vars.sort_by(|a, b| compare_names(&a.0, &b.0));

    let mut global = conf.global_json();
    let mut global_touched = Touched::new();
    let mut defaults = conf.path_defaults_json();
    let mut defaults_touched = Touched::new();
    let mut paths: IndexMap<String, (Value, Touched)> = IndexMap::new();

    for (var, value) in &vars {
        let rest = &var["MTX_".len()..];
        if let Some(r) = rest.strip_prefix("PATHDEFAULTS_") {
            if let Some(key) = set(&mut defaults, r, value, var)? {
                touch(&mut defaults_touched, key, var);
            }
        } else if let Some(r) = rest.strip_prefix("PATHS_") {
            let Some((name, r)) = split_path_var(conf, r) else {
                continue;
            };
            let entry = paths.entry(name.clone()).or_insert_with(|| {
                let json = match conf.paths.get(&name) {
                    Some(p) => to_json(p),
                    None => to_json(&conf.path_defaults),
                };
                (json, Touched::new())
            });
            if let Some(key) = set(&mut entry.0, r, value, var)? {
                touch(&mut entry.1, key, var);
            }
        } else if let Some(key) = set(&mut global, rest, value, var)? {
            touch(&mut global_touched, key, var);
        }
    }

    if !global_touched.is_empty() {
        let opt: OptionalGlobal = read_back(&global, &global_touched)?;
        opt.apply_to(conf);
    }
    if !defaults_touched.is_empty() {
        let opt: OptionalPathConf = read_back(&defaults, &defaults_touched)?;
        opt.apply_to(&mut conf.path_defaults);
    }
    for (name, (json, touched)) in paths {
        if touched.is_empty() {
            continue;
        }
        let opt: OptionalPathConf = read_back(&json, &touched)?;
        conf.path_own.entry(name).or_default().merge_from(&opt);
    }
    conf.resolve_paths();
    Ok(())
}
