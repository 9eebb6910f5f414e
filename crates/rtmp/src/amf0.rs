//! AMF0 values (Action Message Format 0, the encoding of RTMP commands and metadata).

use bytes::{BufMut, BytesMut};

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Amf0 {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Amf0)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf0)>),
    StrictArray(Vec<Amf0>),
    Date(f64),
}

impl Amf0 {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// Property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0> {
        match self {
            Amf0::Object(p) | Amf0::EcmaArray(p) => {
                p.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }
    pub fn str(s: &str) -> Amf0 {
        Amf0::String(s.to_string())
    }
    pub fn obj(props: &[(&str, Amf0)]) -> Amf0 {
        Amf0::Object(
            props
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AMF0 at byte {offset}: {reason}")]
pub struct Amf0Error {
    pub offset: usize,
    pub reason: &'static str,
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: &'static str) -> Amf0Error {
        Amf0Error {
            offset: self.p,
            reason,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        if self.b.len() - self.p < n {
            return Err(self.err("truncated"));
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Amf0Error> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, Amf0Error> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]) as usize)
    }
    fn u32(&mut self) -> Result<usize, Amf0Error> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(f64::from_be_bytes(a))
    }
    fn string(&mut self, long: bool) -> Result<String, Amf0Error> {
        let n = if long { self.u32()? } else { self.u16()? };
        let s = self.take(n)?;
        Ok(String::from_utf8_lossy(s).into_owned())
    }
    fn props(&mut self, depth: usize) -> Result<Vec<(String, Amf0)>, Amf0Error> {
        let mut v = vec![];
        loop {
            let key = self.string(false)?;
            if key.is_empty() && self.b.get(self.p) == Some(&9) {
                self.p += 1;
                return Ok(v);
            }
            let val = self.value(depth + 1)?;
            v.push((key, val));
        }
    }
    fn value(&mut self, depth: usize) -> Result<Amf0, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let marker = self.u8()?;
        Ok(match marker {
            0 => Amf0::Number(self.f64()?),
            1 => Amf0::Boolean(self.u8()? != 0),
            2 => Amf0::String(self.string(false)?),
            3 => Amf0::Object(self.props(depth)?),
            5 => Amf0::Null,
            6 => Amf0::Undefined,
            8 => {
                self.u32()?; // associative count: a hint only
                Amf0::EcmaArray(self.props(depth)?)
            }
            10 => {
                let n = self.u32()?;
                // Each element takes at least one byte: a count larger than what is left
                // is malformed, and must not drive the allocation.
                if n > self.b.len() - self.p {
                    return Err(self.err("strict array longer than the message"));
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(depth + 1)?);
                }
                Amf0::StrictArray(v)
            }
            11 => {
                let d = self.f64()?;
                self.take(2)?;
                Amf0::Date(d)
            }
            12 => Amf0::String(self.string(true)?),
            _ => return Err(self.err("unsupported AMF0 type marker")),
        })
    }
}

/// Decodes every value in `b`.
pub fn decode_all(b: &[u8]) -> Result<Vec<Amf0>, Amf0Error> {
    let mut r = Reader { b, p: 0 };
    let mut v = vec![];
    while r.p < b.len() {
        v.push(r.value(0)?);
    }
    Ok(v)
}

fn put_str(out: &mut BytesMut, s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(u16::MAX as usize);
    out.put_u16(n as u16);
    out.put_slice(&b[..n]);
}

pub fn encode(out: &mut BytesMut, v: &Amf0) {
    match v {
        Amf0::Number(n) => {
            out.put_u8(0);
            out.put_f64(*n);
        }
        Amf0::Boolean(b) => {
            out.put_u8(1);
            out.put_u8(*b as u8);
        }
        Amf0::String(s) => {
            if s.len() > u16::MAX as usize {
                out.put_u8(12);
                out.put_u32(s.len() as u32);
                out.put_slice(s.as_bytes());
            } else {
                out.put_u8(2);
                put_str(out, s);
            }
        }
        Amf0::Object(p) | Amf0::EcmaArray(p) => {
            if matches!(v, Amf0::Object(_)) {
                out.put_u8(3);
            } else {
                out.put_u8(8);
                out.put_u32(p.len() as u32);
            }
            for (k, v) in p {
                put_str(out, k);
                encode(out, v);
            }
            out.put_slice(&[0, 0, 9]);
        }
        Amf0::Null => out.put_u8(5),
        Amf0::Undefined => out.put_u8(6),
        Amf0::StrictArray(a) => {
            out.put_u8(10);
            out.put_u32(a.len() as u32);
            for v in a {
                encode(out, v);
            }
        }
        Amf0::Date(d) => {
            out.put_u8(11);
            out.put_f64(*d);
            out.put_u16(0);
        }
    }
}

pub fn encode_all(values: &[Amf0]) -> BytesMut {
    let mut out = BytesMut::new();
    for v in values {
        encode(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let vals = vec![
            Amf0::str("connect"),
            Amf0::Number(1.0),
            Amf0::obj(&[
                ("app", Amf0::str("live")),
                ("fpad", Amf0::Boolean(false)),
                ("nested", Amf0::EcmaArray(vec![("x".into(), Amf0::Null)])),
            ]),
            Amf0::Undefined,
            Amf0::StrictArray(vec![Amf0::Number(2.0)]),
        ];
        let enc = encode_all(&vals);
        assert_eq!(decode_all(&enc).unwrap(), vals);
        assert_eq!(vals[2].get("app").and_then(Amf0::as_str), Some("live"));
    }

    #[test]
    fn malformed() {
        assert!(decode_all(&[2, 0, 5, b'a']).is_err());
        assert!(decode_all(&[10, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_all(&[0x42]).is_err());
        let deep: Vec<u8> = std::iter::repeat_n([3u8, 0, 1, b'a'], 100)
            .flatten()
            .collect();
        assert!(decode_all(&deep).is_err());
        for n in 0..20 {
            let enc = encode_all(&[Amf0::obj(&[("k", Amf0::str("value"))])]);
            let _ = decode_all(&enc[..n.min(enc.len())]);
        }
    }
}
