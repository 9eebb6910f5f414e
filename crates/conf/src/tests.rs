use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;

fn load(text: &str) -> (Conf, Vec<String>) {
    match Conf::from_yaml(text, "mediamtx.yml") {
        Ok(v) => v,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn load_err(text: &str) -> String {
    match Conf::from_yaml(text, "mediamtx.yml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test IP")
}

fn vars(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>()
        .into_iter()
}

// ------------------------------------------------------------------ loading

#[test]
fn embedded_default_loads_without_warnings() {
    let (conf, warnings) = load(Conf::default_yaml());
    assert!(warnings.is_empty(), "warnings: {warnings:?}");
    assert!(conf.api, "our default enables the API");
    assert_eq!(conf.api_address, ":9997");
    assert!(conf.rtmp);
    assert_eq!(conf.rtmp_address, ":1935");
    assert_eq!(conf.rtmps_address, ":1936");
    assert_eq!(conf.rtmp_encryption, Encryption::No);
    assert_eq!(conf.read_timeout, Duration::from_secs(10));
    assert_eq!(conf.write_queue_size, 512);
    assert_eq!(conf.log_level, LogLevel::Info);
    assert_eq!(conf.auth_internal_users, default_auth_internal_users());
    assert_eq!(conf.paths.len(), 1);
    let all = &conf.paths["all_others"];
    assert_eq!(all.name, "all_others");
    assert_eq!(all.source, "publisher");
    assert!(all.override_publisher);
    assert_eq!(all.max_readers, 0);
}

#[test]
fn default_file_only_uses_implemented_keys() {
    // Every top-level key of the default file is implemented, and so is every path key.
    let (conf, _) = load(Conf::default_yaml());
    let index = locate::index_keys(Conf::default_yaml());
    for k in index.iter().filter(|k| k.path.len() == 1) {
        if let PathElem::Key(name) = &k.path[0] {
            assert!(
                IMPLEMENTED_GLOBAL_KEYS.contains(&name.as_str()),
                "{name} is not implemented"
            );
        }
    }
    // Code defaults equal MediaMTX's; the file only differs on `api`.
    let mut expected = Conf {
        api: true,
        path_own: conf.path_own.clone(),
        ..Default::default()
    };
    expected.resolve_paths();
    assert_eq!(conf, expected);
}

#[test]
fn mediamtx_reference_file_loads_with_warning() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/mediamtx-default.yml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "note: {} is absent, skipping the MediaMTX reference file check",
            path.display()
        );
        return;
    };
    let (conf, warnings) = load(&text);
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
    let w = &warnings[0];
    assert!(
        w.starts_with("these mediamtx.yml keys are accepted but not implemented yet"),
        "{w}"
    );
    for k in [
        "hls",
        "hlsAddress",
        "webrtc",
        "rtsp",
        "srt",
        "moq",
        "record",
        "rpiCameraAfMode",
    ] {
        assert!(w.contains(k), "warning should list {k}: {w}");
    }
    for k in [
        "logLevel",
        "rtmpAddress",
        "readTimeout",
        "maxReaders",
        "overridePublisher",
    ] {
        assert!(
            !w.split(": ")
                .nth(1)
                .unwrap_or_default()
                .split(", ")
                .any(|x| x == k),
            "warning should not list {k}: {w}"
        );
    }
    // MediaMTX's file holds MediaMTX's defaults: same as ours, but no API.
    assert!(!conf.api);
    assert_eq!(conf.path_defaults, PathConf::default());
    assert_eq!(conf.hls_segment_max_size, 50 * 1024 * 1024);
    assert_eq!(
        conf.path_defaults.record_delete_after,
        Duration::from_secs(86400)
    );
    let mut expected = Conf {
        path_own: conf.path_own.clone(),
        ..Default::default()
    };
    expected.resolve_paths();
    assert_eq!(conf, expected);
    assert!(conf.paths.contains_key("all_others"));
}

#[test]
fn empty_file_gives_mediamtx_defaults() {
    let (conf, warnings) = load("");
    assert!(warnings.is_empty());
    assert_eq!(conf, Conf::default());
    assert!(!conf.api);
    assert!(conf.paths.is_empty());
}

#[test]
fn unknown_global_key_names_key_and_line() {
    let text = "logLevel: info\napi: yes\n\n\nrtmpAdress: :1935\n";
    let err = load_err(text);
    assert!(
        err.starts_with("mediamtx.yml:5:1: unknown key \"rtmpAdress\""),
        "{err}"
    );
    assert!(err.contains("did you mean \"rtmpAddress\""), "{err}");
}

#[test]
fn unknown_key_in_path_names_key_and_line() {
    let text = "\
logLevel: info
paths:
  cam:
    source: publisher
    maxReaderz: 3
";
    let err = load_err(text);
    assert!(
        err.starts_with("mediamtx.yml:5:5: unknown key \"maxReaderz\""),
        "{err}"
    );
    assert!(err.contains("paths.cam"), "{err}");
    assert!(err.contains("did you mean \"maxReaders\""), "{err}");
}

#[test]
fn unknown_key_in_path_defaults_and_users() {
    let err = load_err("pathDefaults:\n  sorce: publisher\n");
    assert!(
        err.starts_with("mediamtx.yml:2:3: unknown key \"sorce\""),
        "{err}"
    );
    let err = load_err("authInternalUsers:\n  - user: any\n    password: x\n");
    assert!(
        err.starts_with("mediamtx.yml:3:5: unknown key \"password\""),
        "{err}"
    );
}

#[test]
fn type_errors_name_key_and_line() {
    let err = load_err("logLevel: info\npaths:\n  cam:\n    maxReaders: lots\n");
    assert!(err.starts_with("mediamtx.yml:4:"), "{err}");
    assert!(err.contains("paths.cam.maxReaders"), "{err}");

    let err = load_err("readTimeout: 10x\n");
    assert!(err.starts_with("mediamtx.yml:1:"), "{err}");
    assert!(err.contains("readTimeout"), "{err}");
    assert!(err.contains("10x"), "{err}");

    let err = load_err("api: maybe\n");
    assert!(err.starts_with("mediamtx.yml:1:"), "{err}");
    assert!(err.contains("api"), "{err}");

    let err = load_err("\nlogLevel: verbose\n");
    assert!(err.starts_with("mediamtx.yml:2:"), "{err}");
    assert!(err.contains("logLevel") && err.contains("verbose"), "{err}");
}

#[test]
fn duplicate_keys_are_errors() {
    let err = load_err("api: yes\napi: no\n");
    assert!(
        err.starts_with("mediamtx.yml:2:1: duplicate key \"api\""),
        "{err}"
    );
}

#[test]
fn yaml_booleans() {
    let (conf, _) = load("api: yes\nrtmp: no\npathDefaults:\n  overridePublisher: false\n");
    assert!(conf.api);
    assert!(!conf.rtmp);
    assert!(!conf.path_defaults.override_publisher);
    let (conf, _) = load("api: true\nrtmp: false\n");
    assert!(conf.api);
    assert!(!conf.rtmp);
}

#[test]
fn encryption_accepts_unquoted_no() {
    let (conf, _) = load("rtmpEncryption: no\n");
    assert_eq!(conf.rtmp_encryption, Encryption::No);
    let (conf, _) = load("rtmpEncryption: \"optional\"\n");
    assert_eq!(conf.rtmp_encryption, Encryption::Optional);
    let (conf, _) = load("rtmpEncryption: strict\n");
    assert_eq!(conf.rtmp_encryption, Encryption::Strict);
    let err = load_err("rtmpEncryption: yes\n");
    assert!(err.contains("rtmpEncryption"), "{err}");
}

#[test]
fn durations_and_sizes_in_yaml() {
    let text = "\
readTimeout: 1m30s
writeTimeout: 200ms
hlsSegmentMaxSize: 1K
pathDefaults:
  recordDeleteAfter: 2d
  recordMaxPartSize: 512
  sourceOnDemandStartTimeout: 15
";
    let (conf, warnings) = load(text);
    assert_eq!(conf.read_timeout, Duration::from_secs(90));
    assert_eq!(conf.write_timeout, Duration::from_millis(200));
    assert_eq!(conf.hls_segment_max_size, 1024);
    assert_eq!(
        conf.path_defaults.record_delete_after,
        Duration::from_secs(2 * 86400)
    );
    assert_eq!(conf.path_defaults.record_max_part_size, 512);
    assert_eq!(
        conf.path_defaults.source_on_demand_start_timeout,
        Duration::from_secs(15)
    );
    assert_eq!(warnings.len(), 1);
    let json = conf.global_json();
    assert_eq!(json["readTimeout"], "1m30s");
    assert_eq!(json["writeTimeout"], "200ms");
    assert_eq!(json["hlsSegmentMaxSize"], "1K");
    let pd = conf.path_defaults_json();
    assert_eq!(pd["recordDeleteAfter"], "2d");
    assert_eq!(pd["recordSegmentDuration"], "1h0m0s");
    assert_eq!(pd["recordMaxPartSize"], "512B");
}

#[test]
fn warnings_list_each_unimplemented_key_once() {
    let text = "\
hls: no
hlsAddress: :8888
rtmpAddress: :1935
pathDefaults:
  record: yes
paths:
  a:
    record: yes
    runOnInit: echo
  b:
    maxReaders: 2
";
    let (_, warnings) = load(text);
    assert_eq!(
        warnings,
        vec![
            "these mediamtx.yml keys are accepted but not implemented yet and have no effect: hls, hlsAddress, record, runOnInit"
                .to_string()
        ]
    );
}

#[test]
fn null_values_mean_default() {
    let text = "runOnConnect:\nauthHTTPAddress:\npaths:\n  cam:\n    source:\n";
    let (conf, warnings) = load(text);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(conf.paths["cam"].source, "publisher");
}

#[test]
fn deprecated_keys() {
    let (conf, warnings) =
        load("rtmpDisable: yes\npaths:\n  cam:\n    disablePublisherOverride: yes\n");
    assert!(!conf.rtmp);
    assert!(!conf.paths["cam"].override_publisher);
    assert!(warnings.is_empty(), "{warnings:?}");

    let (_, warnings) = load("protocols: [tcp]\n");
    assert!(warnings[0].contains("protocols"), "{warnings:?}");

    let err = load_err("paths:\n  cam:\n    publishUser: admin\n");
    assert!(err.starts_with("mediamtx.yml:3:5:"), "{err}");
    assert!(
        err.contains("publishUser") && err.contains("authInternalUsers"),
        "{err}"
    );
}

#[test]
fn validation_errors_have_locations() {
    let err = load_err("logLevel: info\nwriteQueueSize: 100\n");
    assert!(err.starts_with("mediamtx.yml:2:1: writeQueueSize"), "{err}");
    assert!(err.contains("power of two"), "{err}");

    let err = load_err("paths:\n  cam:\n  '~^(bad$':\n    maxReaders: 1\n");
    assert!(err.starts_with("mediamtx.yml:3:3:"), "{err}");
    assert!(err.contains("regular expression"), "{err}");

    let err = load_err("paths:\n  'bad name':\n");
    assert!(err.starts_with("mediamtx.yml:2:3:"), "{err}");

    let err = load_err("rtmpAddress: 1935\n");
    assert!(err.starts_with("mediamtx.yml:1:1: rtmpAddress"), "{err}");

    let err = load_err("authInternalUsers:\n  - user: any\n    ips: ['10.0.0.0/33']\n    permissions:\n      - action: read\n");
    assert!(err.starts_with("mediamtx.yml:3:5:"), "{err}");
    assert!(err.contains("10.0.0.0/33"), "{err}");

    let err =
        load_err("authInternalUsers:\n  - user: any\n    permissions:\n      - action: dance\n");
    assert!(err.starts_with("mediamtx.yml:4:9:"), "{err}");
    assert!(err.contains("dance"), "{err}");

    let err = load_err("paths:\n  cam:\n    source: ftp://x\n");
    assert!(
        err.starts_with("mediamtx.yml:3:5: paths.cam.source"),
        "{err}"
    );

    assert!(load_err("udpMaxPayloadSize: 2000\n").contains("udpMaxPayloadSize"));
}

#[test]
fn load_file_and_embedded_default() {
    let dir = std::env::temp_dir().join(format!("ferrocast-conf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("custom.yml");
    std::fs::write(&file, "rtmpAddress: :2935\npaths:\n  all_others:\n").expect("write");
    let (conf, warnings, source) = Conf::load(Some(&file)).expect("load");
    assert_eq!(conf.rtmp_address, ":2935");
    assert!(warnings.is_empty());
    assert_eq!(source, file.display().to_string());

    let missing = dir.join("missing.yml");
    let err = Conf::load(Some(&missing)).expect_err("missing file");
    assert!(err.to_string().contains("missing.yml"), "{err}");

    let bad = dir.join("bad.yml");
    std::fs::write(&bad, "rtmpAdress: x\n").expect("write");
    let err = Conf::load(Some(&bad)).expect_err("bad file");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1:1:", bad.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ environment

#[test]
fn env_overrides() {
    let (mut conf, _) = load(Conf::default_yaml());
    conf.apply_env(vars(&[
        ("MTX_RTMPADDRESS", ":1936"),
        ("MTX_API", "no"),
        ("MTX_READTIMEOUT", "30s"),
        ("MTX_WRITEQUEUESIZE", "1024"),
        ("MTX_LOGDESTINATIONS", "stdout,file"),
        ("MTX_PATHDEFAULTS_MAXREADERS", "5"),
        ("MTX_PATHS_CAM_SOURCE", "rtsp://10.0.0.1/stream"),
        ("MTX_PATHS_CAM_SOURCEONDEMAND", "yes"),
        ("MTX_PATHS_ALL_OTHERS_OVERRIDEPUBLISHER", "false"),
        ("MTX_AUTHINTERNALUSERS_0_USER", "admin"),
        ("MTX_AUTHINTERNALUSERS_0_PASS", "secret"),
        ("MTX_AUTHINTERNALUSERS_2_USER", "viewer"),
        ("MTX_AUTHINTERNALUSERS_2_PERMISSIONS_0_ACTION", "read"),
        ("MTX_AUTHINTERNALUSERS_2_PERMISSIONS_0_PATH", "cam"),
        ("MTX_PATHDEFAULTS_RTSPUDPSOURCEPORTRANGE", "40000,40100"),
        ("MTX_NOTAKEY", "whatever"),
        ("HOME", "/root"),
    ]))
    .expect("env");
    conf.validate().expect("valid");
    assert_eq!(conf.rtmp_address, ":1936");
    assert!(!conf.api);
    assert_eq!(conf.read_timeout, Duration::from_secs(30));
    assert_eq!(conf.write_queue_size, 1024);
    assert_eq!(
        conf.log_destinations,
        vec![LogDestination::Stdout, LogDestination::File]
    );
    assert_eq!(conf.path_defaults.max_readers, 5);
    assert_eq!(
        conf.path_defaults.rtsp_udp_source_port_range,
        vec![40000, 40100]
    );
    let cam = &conf.paths["cam"];
    assert_eq!(cam.source, "rtsp://10.0.0.1/stream");
    assert!(cam.source_on_demand);
    assert_eq!(cam.max_readers, 5, "defaults apply to new paths");
    assert!(!conf.paths["all_others"].override_publisher);
    assert_eq!(conf.paths["all_others"].max_readers, 5);
    assert_eq!(conf.auth_internal_users[0].user, "admin");
    assert_eq!(conf.auth_internal_users[0].pass, "secret");
    assert_eq!(conf.auth_internal_users.len(), 3);
    assert_eq!(conf.auth_internal_users[2].user, "viewer");
    assert_eq!(
        conf.auth_internal_users[2].permissions,
        vec![AuthPermission::new(AuthAction::Read, "cam")]
    );
    // Own keys: a later pathDefaults change still reaches `cam`'s other keys.
    let conf = conf
        .patch_path_defaults(&json!({"maxReaders": 9}))
        .expect("patch");
    assert_eq!(conf.paths["cam"].max_readers, 9);
    assert_eq!(conf.paths["cam"].source, "rtsp://10.0.0.1/stream");
}

#[test]
fn env_errors_name_the_variable() {
    let (mut conf, _) = load(Conf::default_yaml());
    let err = conf
        .apply_env(vars(&[("MTX_API", "perhaps")]))
        .expect_err("bad bool");
    assert!(err.to_string().contains("MTX_API"), "{err}");
    let err = conf
        .apply_env(vars(&[("MTX_LOGLEVEL", "verbose")]))
        .expect_err("bad enum");
    assert!(err.to_string().contains("MTX_LOGLEVEL"), "{err}");
    let err = conf
        .apply_env(vars(&[("MTX_READTIMEOUT", "soon")]))
        .expect_err("bad duration");
    assert!(err.to_string().contains("MTX_READTIMEOUT"), "{err}");
    let err = conf
        .apply_env(vars(&[("MTX_WRITEQUEUESIZE", "big")]))
        .expect_err("bad number");
    assert!(err.to_string().contains("MTX_WRITEQUEUESIZE"), "{err}");
}

// ------------------------------------------------------------------ paths

fn regex_conf() -> Conf {
    let text = "\
paths:
  cam1:
    maxReaders: 1
  '~^cam(\\d+)$':
    maxReaders: 2
  '~^live/([a-z]+)/(\\d+)$':
    maxReaders: 3
  '~^prefix':
    maxReaders: 4
  all_others:
    maxReaders: 5
";
    load(text).0
}

#[test]
fn find_path_static_regex_all_others() {
    let conf = regex_conf();
    let (p, groups) = conf.find_path("cam1").expect("cam1");
    assert_eq!((p.name.as_str(), p.max_readers), ("cam1", 1));
    assert!(groups.is_empty());

    let (p, groups) = conf.find_path("cam42").expect("cam42");
    assert_eq!(p.name, "~^cam(\\d+)$");
    assert_eq!(p.max_readers, 2);
    assert_eq!(groups, vec!["42".to_string()]);

    let (p, groups) = conf.find_path("live/abc/7").expect("live");
    assert_eq!(p.max_readers, 3);
    assert_eq!(groups, vec!["abc".to_string(), "7".to_string()]);

    let (p, _) = conf.find_path("prefix_and_more").expect("prefix");
    assert_eq!(p.max_readers, 4);

    let (p, groups) = conf.find_path("camX").expect("all_others");
    assert_eq!(p.name, "all_others");
    assert_eq!(p.max_readers, 5);
    assert!(groups.is_empty());

    assert!(conf.find_path("").is_none());
    assert!(conf.find_path("/bad").is_none());
    assert!(conf.find_path("a b").is_none());
}

#[test]
fn find_path_without_all_others_and_with_all_alias() {
    let (conf, _) = load("paths:\n  cam:\n");
    assert!(conf.find_path("cam").is_some());
    assert!(conf.find_path("other").is_none());
    let (conf, _) = load("paths:\n  all:\n    maxReaders: 7\n");
    let (p, _) = conf.find_path("anything").expect("all");
    assert_eq!(p.max_readers, 7);
}

#[test]
fn path_api_add_patch_replace_delete() {
    let (conf, _) = load(Conf::default_yaml());

    let conf = conf
        .add_path("cam", &json!({"maxReaders": 3, "overridePublisher": false}))
        .expect("add");
    let cam = conf.path_json("cam").expect("cam json");
    assert_eq!(cam["name"], "cam");
    assert_eq!(cam["maxReaders"], 3);
    assert_eq!(cam["overridePublisher"], false);
    assert_eq!(cam["source"], "publisher");
    assert_eq!(cam["readTimeout"], serde_json::Value::Null);
    assert_eq!(cam["sourceOnDemandStartTimeout"], "10s");
    assert_eq!(conf.paths_json().len(), 2);

    let err = conf.add_path("cam", &json!({})).expect_err("exists");
    assert!(err.to_string().contains("already exists"), "{err}");

    let conf = conf
        .patch_path("cam", &json!({"maxReaders": 4}))
        .expect("patch");
    assert_eq!(conf.paths["cam"].max_readers, 4);
    assert!(
        !conf.paths["cam"].override_publisher,
        "patch keeps other own keys"
    );

    let conf = conf
        .replace_path("cam", &json!({"maxReaders": 6}))
        .expect("replace");
    assert_eq!(conf.paths["cam"].max_readers, 6);
    assert!(
        conf.paths["cam"].override_publisher,
        "replace drops other own keys"
    );

    let conf = conf
        .patch_path_defaults(&json!({"overridePublisher": false, "maxReaders": 1}))
        .expect("defaults");
    assert!(!conf.paths["cam"].override_publisher);
    assert_eq!(
        conf.paths["cam"].max_readers, 6,
        "own key wins over defaults"
    );
    assert_eq!(conf.paths["all_others"].max_readers, 1);
    assert_eq!(conf.path_defaults_json()["maxReaders"], 1);

    let err = conf.patch_path("nope", &json!({})).expect_err("missing");
    assert!(err.is_not_found(), "{err}");
    let err = conf.replace_path("nope", &json!({})).expect_err("missing");
    assert!(err.is_not_found(), "{err}");
    let err = conf.delete_path("nope").expect_err("missing");
    assert!(err.is_not_found(), "{err}");

    let conf = conf.delete_path("cam").expect("delete");
    assert!(conf.path_json("cam").is_none());
    assert_eq!(conf.paths.len(), 1);

    // "name" may be sent back as received.
    let conf = conf
        .add_path("cam2", &json!({"name": "cam2", "maxReaders": 2}))
        .expect("add with name");
    assert_eq!(conf.paths["cam2"].name, "cam2");
}

#[test]
fn path_api_invalid_bodies_name_the_key() {
    let (conf, _) = load(Conf::default_yaml());
    let err = conf
        .add_path("cam", &json!({"maxReaderz": 3}))
        .expect_err("unknown key");
    assert!(err.to_string().contains("\"maxReaderz\""), "{err}");
    assert!(err.to_string().contains("maxReaders"), "{err}");

    let err = conf
        .add_path("cam", &json!({"maxReaders": "many"}))
        .expect_err("bad type");
    assert!(err.to_string().contains("\"maxReaders\""), "{err}");

    let err = conf
        .patch_path("all_others", &json!({"sourceOnDemandStartTimeout": "soon"}))
        .expect_err("bad duration");
    assert!(
        err.to_string().contains("sourceOnDemandStartTimeout"),
        "{err}"
    );

    let err = conf
        .add_path("cam", &json!([1, 2]))
        .expect_err("not an object");
    assert!(err.to_string().contains("object"), "{err}");

    let err = conf.add_path("bad name", &json!({})).expect_err("bad name");
    assert!(err.to_string().contains("bad name"), "{err}");

    let err = conf.add_path("~(", &json!({})).expect_err("bad regex");
    assert!(err.to_string().contains("regular expression"), "{err}");

    let err = conf
        .patch_path_defaults(&json!({"source": "nowhere"}))
        .expect_err("bad source");
    assert!(err.to_string().contains("source"), "{err}");
}

#[test]
fn global_api_json_and_patch() {
    let (conf, _) = load(Conf::default_yaml());
    let json = conf.global_json();
    let obj = json.as_object().expect("object");
    assert_eq!(obj.len(), GLOBAL_KEYS.len());
    for k in GLOBAL_KEYS {
        assert!(obj.contains_key(*k), "missing {k}");
    }
    assert!(!obj.contains_key("pathDefaults"));
    assert!(!obj.contains_key("paths"));
    assert_eq!(json["logLevel"], "info");
    assert_eq!(json["readTimeout"], "10s");
    assert_eq!(json["rtmpEncryption"], "no");
    assert_eq!(json["api"], true);
    assert_eq!(json["hlsVariant"], "lowLatency");
    assert_eq!(
        json["authInternalUsers"][1]["ips"],
        json!(["127.0.0.1", "::1"])
    );
    assert_eq!(
        json["authInternalUsers"][0]["permissions"][0],
        json!({"action": "publish", "path": ""})
    );

    let pd = conf.path_defaults_json();
    assert_eq!(pd.as_object().map(|o| o.len()), Some(PATH_KEYS.len() + 1));
    assert_eq!(pd["name"], "");

    let patched = conf
        .patch_global(
            &json!({"logLevel": "debug", "readTimeout": "5s", "rtmpEncryption": "optional"}),
        )
        .expect("patch");
    assert_eq!(patched.log_level, LogLevel::Debug);
    assert_eq!(patched.read_timeout, Duration::from_secs(5));
    assert_eq!(patched.rtmp_encryption, Encryption::Optional);
    assert_eq!(patched.paths, conf.paths);
    assert_ne!(patched, conf);

    // The JSON round-trips.
    let again = conf.patch_global(&conf.global_json()).expect("round trip");
    assert_eq!(again, conf);

    let err = conf
        .patch_global(&json!({"rtmpAdress": ":1"}))
        .expect_err("unknown");
    assert!(err.to_string().contains("\"rtmpAdress\""), "{err}");
    assert!(err.to_string().contains("rtmpAddress"), "{err}");
    let err = conf.patch_global(&json!({"paths": {}})).expect_err("paths");
    assert!(err.to_string().contains("\"paths\""), "{err}");
    let err = conf
        .patch_global(&json!({"writeQueueSize": 100}))
        .expect_err("invalid");
    assert!(err.to_string().contains("writeQueueSize"), "{err}");
    let err = conf.patch_global(&json!({"api": "yes"})).expect_err("type");
    assert!(err.to_string().contains("\"api\""), "{err}");
    let err = conf
        .patch_global(&json!({"logLevel": "loud"}))
        .expect_err("enum");
    assert!(err.to_string().contains("\"logLevel\""), "{err}");
}

// ------------------------------------------------------------------ auth

fn sha256_b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
}

#[test]
fn auth_default_users() {
    let (conf, _) = load(Conf::default_yaml());
    let anywhere = ip("203.0.113.5");
    assert!(conf
        .authenticate(AuthAction::Publish, "cam", "", "", anywhere)
        .is_ok());
    assert!(conf
        .authenticate(AuthAction::Read, "cam", "someone", "whatever", anywhere)
        .is_ok());
    assert!(conf
        .authenticate(AuthAction::Api, "", "", "", ip("127.0.0.1"))
        .is_ok());
    assert!(conf
        .authenticate(AuthAction::Api, "", "", "", ip("::1"))
        .is_ok());
    let err = conf
        .authenticate(AuthAction::Api, "", "", "", anywhere)
        .expect_err("api from outside");
    assert!(!err.wrong_credentials, "{err:?}");
}

#[test]
fn auth_users_passwords_ips_paths() {
    let hashed = format!("sha256:{}", sha256_b64("hunter2"));
    let text = format!(
        "\
authInternalUsers:
  - user: publisher
    pass: secret
    ips: ['192.168.0.0/16', '10.1.2.3']
    permissions:
      - action: publish
        path: cam
  - user: reader
    pass: '{hashed}'
    permissions:
      - action: read
        path: '~^live/'
  - user: any
    permissions:
      - action: read
        path: public
  - user: argon
    pass: 'argon2:$argon2id$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA'
    permissions:
      - action: playback
"
    );
    let (conf, _) = load(&text);
    let lan = ip("192.168.1.20");
    let wan = ip("198.51.100.1");

    // Right user, right password, allowed IP and path.
    assert!(conf
        .authenticate(AuthAction::Publish, "cam", "publisher", "secret", lan)
        .is_ok());
    assert!(conf
        .authenticate(
            AuthAction::Publish,
            "cam",
            "publisher",
            "secret",
            ip("10.1.2.3")
        )
        .is_ok());
    // Wrong password.
    let err = conf
        .authenticate(AuthAction::Publish, "cam", "publisher", "nope", lan)
        .expect_err("wrong pass");
    assert!(err.wrong_credentials, "{err:?}");
    // No credentials, but some are required.
    let err = conf
        .authenticate(AuthAction::Publish, "cam", "", "", lan)
        .expect_err("missing");
    assert!(err.wrong_credentials, "{err:?}");
    // IP outside the CIDR: the credentials are right, the address is not.
    let err = conf
        .authenticate(AuthAction::Publish, "cam", "publisher", "secret", wan)
        .expect_err("ip");
    assert!(!err.wrong_credentials, "{err:?}");
    // Other path.
    assert!(conf
        .authenticate(AuthAction::Publish, "other", "publisher", "secret", lan)
        .is_err());
    // Other action.
    assert!(conf
        .authenticate(AuthAction::Read, "cam", "publisher", "secret", lan)
        .is_err());

    // sha256 password and regex path.
    assert!(conf
        .authenticate(AuthAction::Read, "live/x", "reader", "hunter2", wan)
        .is_ok());
    assert!(conf
        .authenticate(AuthAction::Read, "live/x", "reader", "hunter3", wan)
        .is_err());
    assert!(conf
        .authenticate(AuthAction::Read, "vod/x", "reader", "hunter2", wan)
        .is_err());

    // "any" user with a path permission.
    assert!(conf
        .authenticate(AuthAction::Read, "public", "", "", wan)
        .is_ok());
    assert!(conf
        .authenticate(AuthAction::Read, "public", "x", "y", wan)
        .is_ok());

    // argon2 is reported as unsupported.
    let err = conf
        .authenticate(AuthAction::Playback, "cam", "argon", "pw", wan)
        .expect_err("argon2");
    assert!(err.message.contains("argon2"), "{err:?}");
}

#[test]
fn auth_method_not_internal_refuses() {
    let (conf, warnings) = load("authMethod: http\nauthHTTPAddress: http://127.0.0.1:9000/auth\n");
    assert!(
        warnings.iter().any(|w| w.contains("authMethod")),
        "{warnings:?}"
    );
    let err = conf
        .authenticate(AuthAction::Publish, "cam", "", "", ip("127.0.0.1"))
        .expect_err("http auth");
    assert!(err.message.contains("http"), "{err:?}");
    let err = load_err("authMethod: http\n");
    assert!(err.contains("authHTTPAddress"), "{err}");
}

#[test]
fn conf_is_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + PartialEq + std::fmt::Debug>() {}
    assert_traits::<Conf>();
    assert_traits::<PathConf>();
    assert_traits::<ConfError>();
    assert_traits::<AuthError>();
}

#[test]
fn yaml_edge_cases() {
    let (conf, _) = load("paths:\n  1234:\n");
    assert!(conf.paths.contains_key("1234"));
    // Anchors and merge keys work.
    let (conf, _) = load(
        "pathDefaults: &d\n  maxReaders: 2\npaths:\n  cam: *d\n  cam2:\n    <<: *d\n    overridePublisher: no\n",
    );
    assert_eq!(conf.paths["cam"].max_readers, 2);
    assert_eq!(conf.paths["cam2"].max_readers, 2);
    assert!(!conf.paths["cam2"].override_publisher);
    let err = load_err("api: yes\n---\napi: no\n");
    assert!(err.contains("one YAML document"), "{err}");
    let err = load_err("logDestinations: stdout\n");
    assert!(
        err.starts_with("mediamtx.yml:1:18: logDestinations: expected a list"),
        "{err}"
    );
}

#[test]
fn pull_sources() {
    let (conf, warnings) = load(
        "paths:\n  cam:\n    source: rtmps://origin/live/cam\n    sourceFingerprint: ab:cd\n    sourceOnDemand: yes\n    sourceOnDemandStartTimeout: 3s\n    sourceOnDemandCloseAfter: 1m\n  \"~^proxy/(.+)$\":\n    source: rtsp://origin/$G1\n    sourceOnDemand: yes\n",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let cam = &conf.paths["cam"];
    assert!(cam.source_on_demand);
    assert_eq!(cam.source_on_demand_close_after, Duration::from_secs(60));
    // Paths matching many names pull only on demand (one copy per matched name).
    for name in ["\"~^proxy/(.+)$\"", "all_others"] {
        let err = load_err(&format!(
            "paths:\n  {name}:\n    source: rtsp://origin/$MTX_PATH\n"
        ));
        assert!(err.contains("sourceOnDemand"), "{err}");
    }
}
