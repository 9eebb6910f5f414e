//! MIKEY (RFC 3830) as RTSPS clients use it to hand over SRTP keys: a "pre-shared key"
//! init message whose KEMAC is neither encrypted nor signed (NULL/NULL), which is only
//! safe because it travels inside TLS. Carried in SDP as `a=key-mgmt:mikey <base64>` and
//! in RTSP as `KeyMgmt: prot=mikey;uri="…";data="<base64>"` (RFC 4567).
//!
//! Layouts and captures from GStreamer: docs/srtp-rtsps.md, sections 1 and 2.

use base64::Engine;
use ferrocast_rtp::srtp::{MasterKey, KEY_LEN};

/// The key a peer sends with, and the initial rollover counter of each SSRC it maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mikey {
    pub key: MasterKey,
    /// (SSRC, ROC).
    pub streams: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MikeyError {
    #[error("MIKEY message truncated")]
    Truncated,
    #[error("MIKEY: unsupported {0}")]
    Unsupported(&'static str),
    #[error("MIKEY message has no key")]
    NoKey,
    #[error("MIKEY message is not base64")]
    Base64,
    #[error("KeyMgmt header has no MIKEY data")]
    NoKeyMgmt,
}

// Payload types (RFC 3830 6.1).
const KEMAC: u8 = 1;
const T: u8 = 5;
const SP: u8 = 10;
const RAND: u8 = 11;
const LAST: u8 = 0;

/// Builds the message announcing `key` for `streams`, stamped now.
pub fn encode(key: &MasterKey, streams: &[(u32, u32)]) -> Vec<u8> {
    use rand::RngCore;
    let mut rng = rand::thread_rng();
    let mut rand_bytes = [0u8; 16];
    rng.fill_bytes(&mut rand_bytes);
    encode_with(key, streams, rng.next_u32(), ntp_now(), &rand_bytes)
}

fn ntp_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() + 2_208_988_800;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// [`encode`] with the random and time fields given (for tests).
pub fn encode_with(
    key: &MasterKey,
    streams: &[(u32, u32)],
    csb_id: u32,
    ntp: u64,
    rand_bytes: &[u8; 16],
) -> Vec<u8> {
    let streams = &streams[..streams.len().min(255)];
    let mut m = Vec::with_capacity(112 + 9 * streams.len());
    // Common header: version 1, PSK init, next T, V=0 / PRF MIKEY-1, CSB ID, CS map.
    m.extend([1, 0, T, 0]);
    m.extend(csb_id.to_be_bytes());
    m.extend([streams.len() as u8, 0]);
    for (ssrc, roc) in streams {
        m.push(0); // policy 0
        m.extend(ssrc.to_be_bytes());
        m.extend(roc.to_be_bytes());
    }
    // T: NTP-UTC.
    m.extend([RAND, 0]);
    m.extend(ntp.to_be_bytes());
    // RAND.
    m.extend([SP, 16]);
    m.extend(rand_bytes);
    // SP: policy 0 for SRTP, AES_CM_128_HMAC_SHA1_80 in RFC 3830's terms.
    let params: [(u8, u8); 8] = [
        (0, 1),   // encryption: AES-CM
        (1, 16),  // session encryption key length
        (2, 1),   // authentication: HMAC-SHA-1
        (3, 20),  // session authentication key length
        (7, 1),   // SRTP encryption on
        (8, 1),   // SRTCP encryption on
        (10, 1),  // SRTP authentication on
        (11, 10), // authentication tag length
    ];
    m.extend([KEMAC, 0, 0]);
    m.extend((params.len() as u16 * 3).to_be_bytes());
    for (t, v) in params {
        m.extend([t, 1, v]);
    }
    // KEMAC: NULL encryption of one TEK key data sub-payload, NULL MAC.
    m.extend([LAST, 0]);
    m.extend((4 + KEY_LEN as u16).to_be_bytes());
    m.extend([LAST, 0x20]);
    m.extend((KEY_LEN as u16).to_be_bytes());
    m.extend(key.0);
    m.push(0);
    m
}

/// A bounds-checked reader.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MikeyError> {
        if self.0.len() < n {
            return Err(MikeyError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, MikeyError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, MikeyError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<u32, MikeyError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Reads a PSK init message with a NULL/NULL KEMAC.
pub fn decode(b: &[u8]) -> Result<Mikey, MikeyError> {
    use MikeyError::Unsupported;
    let mut r = Reader(b);
    if r.u8()? != 1 {
        return Err(Unsupported("version"));
    }
    if r.u8()? != 0 {
        return Err(Unsupported("data type (only pre-shared key init)"));
    }
    let mut next = r.u8()?;
    if r.u8()? != 0 {
        return Err(Unsupported("verification flag or PRF"));
    }
    r.u32()?; // CSB ID
    let n = r.u8()?;
    if r.u8()? != 0 {
        return Err(Unsupported("crypto session map type (only SRTP-ID)"));
    }
    let mut streams = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        r.u8()?; // policy number
        let ssrc = r.u32()?;
        let roc = r.u32()?;
        streams.push((ssrc, roc));
    }
    let mut key = None;
    while next != LAST {
        let this = next;
        next = r.u8()?;
        match this {
            T => {
                let len = match r.u8()? {
                    0 | 1 => 8,
                    2 => 4,
                    _ => return Err(Unsupported("timestamp type")),
                };
                r.take(len)?;
            }
            RAND => {
                let len = r.u8()?;
                r.take(usize::from(len))?;
            }
            SP => {
                r.u8()?; // policy number
                if r.u8()? != 0 {
                    return Err(Unsupported("security protocol (only SRTP)"));
                }
                let len = r.u16()?;
                check_policy(r.take(len)?)?;
            }
            KEMAC => {
                if r.u8()? != 0 {
                    return Err(Unsupported("encrypted KEMAC"));
                }
                let len = r.u16()?;
                let data = r.take(len)?;
                if r.u8()? != 0 {
                    return Err(Unsupported("KEMAC MAC algorithm"));
                }
                if key.is_none() {
                    key = Some(key_data(data)?);
                }
            }
            _ => return Err(Unsupported("payload type")),
        }
    }
    if !r.0.is_empty() {
        return Err(Unsupported("bytes after the last payload"));
    }
    Ok(Mikey {
        key: key.ok_or(MikeyError::NoKey)?,
        streams,
    })
}

/// The SRTP policy parameters must describe AES_CM_128_HMAC_SHA1_80.
fn check_policy(mut p: &[u8]) -> Result<(), MikeyError> {
    use MikeyError::Unsupported;
    while !p.is_empty() {
        let mut r = Reader(p);
        let t = r.u8()?;
        let len = r.u8()?;
        let v = r.take(usize::from(len))?;
        p = r.0;
        let v = match v {
            [v] => *v,
            _ => return Err(Unsupported("SRTP policy parameter length")),
        };
        let ok = match t {
            0 => v == 1,             // AES-CM
            1 => v == 16,            // 128-bit session key
            2 => v == 1,             // HMAC-SHA-1
            3 => v == 20 || v == 10, // auth key length (GStreamer writes the tag length)
            4 => v == 14,            // salt length
            5 | 6 | 9 | 12 => v == 0,
            7 | 8 | 10 => v == 1, // encryption and authentication on
            11 => v == 10,        // 80-bit tag
            _ => true,
        };
        if !ok {
            return Err(Unsupported("SRTP policy (only AES_CM_128_HMAC_SHA1_80)"));
        }
    }
    Ok(())
}

/// The first key data sub-payload of a KEMAC: a TEK, or a TEK and a salt.
fn key_data(data: &[u8]) -> Result<MasterKey, MikeyError> {
    use MikeyError::Unsupported;
    let mut r = Reader(data);
    r.u8()?; // next sub-payload
    let type_kv = r.u8()?;
    let len = r.u16()?;
    let tek = r.take(len)?;
    let mut key = Vec::with_capacity(KEY_LEN);
    key.extend_from_slice(tek);
    match type_kv >> 4 {
        2 => {}
        3 => {
            let salt_len = r.u16()?;
            key.extend_from_slice(r.take(salt_len)?);
        }
        _ => return Err(Unsupported("key data type")),
    }
    match type_kv & 0x0f {
        0 => {}
        2 => {
            // Key validity interval: parsed and ignored.
            let from = r.u8()?;
            r.take(usize::from(from))?;
            let to = r.u8()?;
            r.take(usize::from(to))?;
        }
        _ => return Err(Unsupported("key validity (MKI)")),
    }
    let key: [u8; KEY_LEN] = key
        .try_into()
        .map_err(|_| Unsupported("key length (only 16-byte keys, 14-byte salts)"))?;
    Ok(MasterKey(key))
}

/// `a=key-mgmt:mikey …` value part (after `mikey `), base64.
pub fn to_base64(msg: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(msg)
}

/// Decodes a base64 MIKEY message (SDP attribute or KeyMgmt `data`).
pub fn from_base64(s: &str) -> Result<Mikey, MikeyError> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(s.trim().trim_matches('"'))
        .map_err(|_| MikeyError::Base64)?;
    decode(&b)
}

/// The SDP attribute line `a=key-mgmt:mikey <base64>`.
pub fn sdp_attribute(msg: &[u8]) -> String {
    format!("a=key-mgmt:mikey {}", to_base64(msg))
}

/// The value of a `KeyMgmt` header for `uri`.
pub fn key_mgmt_header(uri: &str, msg: &[u8]) -> String {
    format!("prot=mikey;uri=\"{uri}\";data=\"{}\"", to_base64(msg))
}

/// The MIKEY data of a `KeyMgmt` header (one spec or a comma-separated list): the spec
/// whose `uri` ends like `want_uri` if there is one, else the first MIKEY spec.
pub fn parse_key_mgmt(value: &str, want_uri: &str) -> Result<Mikey, MikeyError> {
    let mut specs = Vec::new();
    for spec in value.split(',').take(16) {
        let (mut prot, mut uri, mut data) = ("", "", None);
        for kv in spec.split(';') {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "prot" => prot = v,
                "uri" => uri = v,
                "data" => data = Some(v),
                _ => {}
            }
        }
        if let (true, Some(d)) = (prot.eq_ignore_ascii_case("mikey"), data) {
            specs.push((uri, d));
        }
    }
    // rtspsrc writes rtsp:// URIs on rtsps:// connections: compare without the scheme.
    let tail = |u: &str| {
        u.split_once("://")
            .map_or(u, |(_, r)| r)
            .trim_end_matches('/')
            .to_string()
    };
    let want = tail(want_uri);
    let chosen = specs
        .iter()
        .find(|(u, _)| tail(u) == want)
        .or_else(|| specs.first())
        .ok_or(MikeyError::NoKeyMgmt)?;
    from_base64(chosen.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn doc_key() -> MasterKey {
        let mut k = [0u8; KEY_LEN];
        k[..16].copy_from_slice(&hex("000102030405060708090a0b0c0d0e0f"));
        k[16..].copy_from_slice(&hex("a0a1a2a3a4a5a6a7a8a9aaabacad"));
        MasterKey(k)
    }

    /// docs/srtp-rtsps.md 2.1, built by hand and decoded by rtspsrc.
    const WORKED: &str = "0100050011223344010000cafebabe000000000b00eeacd600000000000a10101112131415161718191a1b1c1d1e1f01000000180001010101100201010301140701010801010a01010b010a000000220020001e000102030405060708090a0b0c0d0e0fa0a1a2a3a4a5a6a7a8a9aaabacad00";

    #[test]
    fn encodes_the_worked_example() {
        let rand: [u8; 16] = std::array::from_fn(|i| 0x10 + i as u8);
        let m = encode_with(
            &doc_key(),
            &[(0xcafe_babe, 0)],
            0x1122_3344,
            0xeeac_d600_0000_0000,
            &rand,
        );
        assert_eq!(m, hex(WORKED));
        assert_eq!(
            decode(&m).unwrap(),
            Mikey {
                key: doc_key(),
                streams: vec![(0xcafe_babe, 0)]
            }
        );
        let fresh = encode(&doc_key(), &[(1, 2), (3, 4)]);
        assert_eq!(decode(&fresh).unwrap().streams, vec![(1, 2), (3, 4)]);
    }

    /// Messages captured from GStreamer 1.22 (docs/srtp-rtsps.md 1.2-1.4).
    #[test]
    fn decodes_gstreamer_captures() {
        let reader_sdp = "AQAFADCfvcMBAAAYJOcZAAAAAAsA7qzT5kGReTkKEHED0djxd5o5xEQCHg9Aba0BAAAAFQABAQEBEAIBAQMBCgcBAQgBAQoBAQAAACIAIAAeYRVQClp92xlSgtkoF9gtVdihWWL7Omy49d0h05PGAA==";
        let m = from_base64(reader_sdp).unwrap();
        assert_eq!(m.streams, vec![(0x1824_e719, 0)]);
        assert_eq!(
            m.key.0.to_vec(),
            hex("6115500a5a7ddb195282d92817d82d55d8a15962fb3a6cb8f5dd21d393c6")
        );
        let setup = "prot=mikey;uri=\"rtsp://127.0.0.1:18322/rec/stream=0\";data=\"AQAFAGvATwQCAABUfcArAAAAAABVsH79AAAAAAsA7qzUAm5lWfYKEJKl9DTmGpLldd/IHLXKZZMBAAAAFQABAQEBEAIBAQMBCgcBAQgBAQoBAQAAACIAIAAeSwkShxopqLqUh0iU64qCSnoGkHFGH7wJtMohluIPAA==\"";
        let m = parse_key_mgmt(setup, "rtsps://127.0.0.1:18322/rec/stream=0").unwrap();
        assert_eq!(m.streams, vec![(0x547d_c02b, 0), (0x55b0_7efd, 0)]);
        assert_eq!(
            m.key.0.to_vec(),
            hex("4b0912871a29a8ba94874894eb8a824a7a069071461fbc09b4ca2196e20f")
        );
    }

    #[test]
    fn key_mgmt_lists() {
        let a = key_mgmt_header("rtsp://h/p/trackID=0", &encode(&doc_key(), &[(1, 0)]));
        let other = MasterKey([7; KEY_LEN]);
        let b = key_mgmt_header("rtsp://h/p/trackID=1", &encode(&other, &[(2, 0)]));
        let both = format!("{a}, {b}");
        assert_eq!(
            parse_key_mgmt(&both, "rtsps://h/p/trackID=1").unwrap().key,
            other
        );
        assert_eq!(parse_key_mgmt(&both, "rtsp://x/y").unwrap().key, doc_key());
        assert_eq!(
            parse_key_mgmt("prot=foo;data=\"AA\"", "x"),
            Err(MikeyError::NoKeyMgmt)
        );
        assert_eq!(
            parse_key_mgmt("prot=mikey;data=\"!!\"", "x"),
            Err(MikeyError::Base64)
        );
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        let good = hex(WORKED);
        let with = |i: usize, v: u8| {
            let mut m = good.clone();
            m[i] = v;
            decode(&m)
        };
        assert!(matches!(with(0, 2), Err(MikeyError::Unsupported(_)))); // version
        assert!(matches!(with(1, 2), Err(MikeyError::Unsupported(_)))); // DH init
        assert!(matches!(with(3, 0x80), Err(MikeyError::Unsupported(_)))); // V=1
        assert!(matches!(with(9, 1), Err(MikeyError::Unsupported(_)))); // map type
        let kemac = good.len() - 1 - 34 - 4;
        assert!(matches!(
            with(kemac + 1, 1),
            Err(MikeyError::Unsupported(_))
        )); // encrypted
        assert!(matches!(
            with(good.len() - 1, 1),
            Err(MikeyError::Unsupported(_))
        )); // MAC
        assert!(matches!(
            with(kemac + 5, 0x21),
            Err(MikeyError::Unsupported(_))
        )); // KV=SPI
            // An unknown policy value (32-bit tag).
        let sp = good.len() - 1 - 34 - 4 - 24;
        assert!(matches!(with(sp + 23, 4), Err(MikeyError::Unsupported(_))));
        // Truncated anywhere, or with bytes after the end.
        for n in 0..good.len() {
            assert!(decode(&good[..n]).is_err(), "truncated at {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(decode(&long).is_err());
    }
}
