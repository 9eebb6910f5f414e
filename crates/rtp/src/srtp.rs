//! SRTP and SRTCP (RFC 3711) with the one profile RTSPS clients use:
//! AES_CM_128_HMAC_SHA1_80, key derivation rate 0, no MKI.
//!
//! A [`MasterKey`] (16-byte key and 14-byte salt) is derived into session keys once. An
//! [`SrtpSender`] protects what one SSRC sends (its RTP and its RTCP); an
//! [`SrtpReceiver`] checks and decrypts what one peer sends under one key, for any number
//! of SSRCs, with a replay window per SSRC. Authentication always comes before decryption
//! and before any state changes, so forged datagrams cost a MAC and nothing else.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha1::Sha1;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
type HmacSha1 = Hmac<Sha1>;

/// Bytes of a master key plus master salt, as carried by MIKEY.
pub const KEY_LEN: usize = 30;
/// Bytes of the authentication tag (HMAC-SHA1 truncated to 80 bits).
pub const TAG_LEN: usize = 10;
/// Bytes SRTCP adds: the E flag and index, then the tag.
pub const SRTCP_TRAILER: usize = 4 + TAG_LEN;
/// SSRCs one receiver keeps state for: anyone may send datagrams, so this is bounded.
const MAX_STREAMS: usize = 16;
/// Packets behind the newest one that may still arrive (RFC 3711 says at least 64).
const REPLAY_WINDOW: u64 = 64;

/// An SRTP master key (16 bytes) followed by its master salt (14 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(pub [u8; KEY_LEN]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)") // keys never reach logs
    }
}

impl MasterKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> MasterKey {
        use rand::RngCore;
        let mut k = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut k);
        MasterKey(k)
    }

    fn key(&self) -> &[u8] {
        &self.0[..16]
    }

    fn salt(&self) -> &[u8] {
        &self.0[16..]
    }
}

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    #[error("SRTP packet too short")]
    Truncated,
    #[error("SRTP authentication failed")]
    Auth,
    #[error("SRTP packet replayed or too old")]
    Replay,
    #[error("SRTP: too many SSRCs under one key")]
    TooManyStreams,
}

/// Session keys of one direction (RFC 3711 4.3).
#[derive(Clone)]
struct SessionKeys {
    rtp_enc: [u8; 16],
    rtp_auth: HmacSha1,
    rtp_salt: [u8; 14],
    rtcp_enc: [u8; 16],
    rtcp_auth: HmacSha1,
    rtcp_salt: [u8; 14],
}

impl SessionKeys {
    fn derive(master: &MasterKey) -> SessionKeys {
        let prf = |label: u8, out: &mut [u8]| {
            let mut iv = [0u8; 16];
            iv[..14].copy_from_slice(master.salt());
            iv[7] ^= label;
            out.fill(0);
            let mut c = Aes128Ctr::new(master.key().into(), &iv.into());
            c.apply_keystream(out);
        };
        let mut rtp_enc = [0u8; 16];
        let mut rtp_auth = [0u8; 20];
        let mut rtp_salt = [0u8; 14];
        let mut rtcp_enc = [0u8; 16];
        let mut rtcp_auth = [0u8; 20];
        let mut rtcp_salt = [0u8; 14];
        prf(0, &mut rtp_enc);
        prf(1, &mut rtp_auth);
        prf(2, &mut rtp_salt);
        prf(3, &mut rtcp_enc);
        prf(4, &mut rtcp_auth);
        prf(5, &mut rtcp_salt);
        let hmac = |k: &[u8]| HmacSha1::new_from_slice(k).expect("HMAC takes any key length");
        SessionKeys {
            rtp_enc,
            rtp_auth: hmac(&rtp_auth),
            rtp_salt,
            rtcp_enc,
            rtcp_auth: hmac(&rtcp_auth),
            rtcp_salt,
        }
    }
}

/// Encrypts `data` in place with AES-CM: the IV is the salt with the SSRC in bytes 4..8
/// and the (48-bit) packet index in bytes 8..14 XORed in.
fn crypt(key: &[u8; 16], salt: &[u8; 14], ssrc: u32, index: u64, data: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *b ^= s;
    }
    for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *b ^= s;
    }
    let mut c = Aes128Ctr::new(key.into(), &iv.into());
    c.apply_keystream(data);
}

/// Length of an RTP header with its CSRCs and extension, if `pkt` holds one.
fn rtp_header_len(pkt: &[u8]) -> Option<usize> {
    let b0 = *pkt.first()?;
    if pkt.len() < 12 || b0 >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(b0 & 0x0f);
    if b0 & 0x10 != 0 {
        let ext = pkt.get(len + 2..len + 4)?;
        len += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    (len <= pkt.len()).then_some(len)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Protects what one SSRC sends: its RTP packets and its RTCP packets.
#[derive(Clone)]
pub struct SrtpSender {
    keys: SessionKeys,
    roc: u32,
    last_seq: Option<u16>,
    /// Index of the next SRTCP packet (libsrtp starts at 1).
    rtcp_index: u32,
}

impl SrtpSender {
    pub fn new(key: &MasterKey) -> SrtpSender {
        SrtpSender {
            keys: SessionKeys::derive(key),
            roc: 0,
            last_seq: None,
            rtcp_index: 1,
        }
    }

    /// The rollover counter of the next packet (for MIKEY maps of running streams).
    pub fn roc(&self) -> u32 {
        self.roc
    }

    /// `buf[start..]` is one RTP packet: encrypts its payload in place and appends the
    /// tag. A packet that is not RTP is left alone.
    pub fn protect_rtp(&mut self, buf: &mut Vec<u8>, start: usize) {
        let Some(hlen) = buf.get(start..).and_then(rtp_header_len) else {
            return;
        };
        let pkt = &mut buf[start..];
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ssrc = be32(&pkt[8..12]);
        if let Some(last) = self.last_seq {
            if seq < last && last - seq > 0x8000 {
                self.roc = self.roc.wrapping_add(1);
            }
        }
        self.last_seq = Some(seq);
        let index = (u64::from(self.roc) << 16) | u64::from(seq);
        let k = &self.keys;
        crypt(&k.rtp_enc, &k.rtp_salt, ssrc, index, &mut pkt[hlen..]);
        let mut mac = k.rtp_auth.clone();
        mac.update(pkt);
        mac.update(&self.roc.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        buf.extend_from_slice(&tag[..TAG_LEN]);
    }

    /// `buf[start..]` is one (compound) RTCP packet: encrypts it after the first 8 bytes
    /// in place and appends E flag, index and tag.
    pub fn protect_rtcp(&mut self, buf: &mut Vec<u8>, start: usize) {
        let Some(pkt) = buf.get_mut(start..).filter(|p| p.len() >= 8) else {
            return;
        };
        let ssrc = be32(&pkt[4..8]);
        let index = self.rtcp_index & 0x7fff_ffff;
        self.rtcp_index = (index + 1) & 0x7fff_ffff;
        let k = &self.keys;
        crypt(&k.rtcp_enc, &k.rtcp_salt, ssrc, index.into(), &mut pkt[8..]);
        buf.extend_from_slice(&(0x8000_0000 | index).to_be_bytes());
        let mut mac = k.rtcp_auth.clone();
        mac.update(&buf[start..]);
        let tag = mac.finalize().into_bytes();
        buf.extend_from_slice(&tag[..TAG_LEN]);
    }
}

/// Packets seen near the newest index.
#[derive(Clone, Copy, Default)]
struct ReplayWindow {
    top: Option<u64>,
    /// Bit k: index `top - k` was received.
    seen: u64,
}

impl ReplayWindow {
    fn check(&self, index: u64) -> Result<(), SrtpError> {
        let Some(top) = self.top else { return Ok(()) };
        if index > top {
            return Ok(());
        }
        let back = top - index;
        if back >= REPLAY_WINDOW || self.seen & (1 << back) != 0 {
            return Err(SrtpError::Replay);
        }
        Ok(())
    }

    fn accept(&mut self, index: u64) {
        match self.top {
            Some(top) if index <= top => self.seen |= 1 << (top - index),
            Some(top) => {
                let shift = index - top;
                self.seen = if shift >= 64 { 0 } else { self.seen << shift };
                self.seen |= 1;
                self.top = Some(index);
            }
            None => {
                self.top = Some(index);
                self.seen = 1;
            }
        }
    }
}

/// Receiving state of one SSRC.
#[derive(Clone, Copy)]
struct RtpStream {
    ssrc: u32,
    roc: u32,
    /// Highest sequence number received (with `roc`), once one was.
    s_l: Option<u16>,
    window: ReplayWindow,
}

impl RtpStream {
    /// The rollover counter `seq` most likely belongs to (RFC 3711 3.3.1, appendix A).
    fn guess_roc(&self, seq: u16) -> u32 {
        let Some(s_l) = self.s_l else { return self.roc };
        let (s_l, seq) = (i32::from(s_l), i32::from(seq));
        if s_l < 32768 {
            if seq - s_l > 32768 {
                self.roc.wrapping_sub(1)
            } else {
                self.roc
            }
        } else if s_l - 32768 > seq {
            self.roc.wrapping_add(1)
        } else {
            self.roc
        }
    }

    fn accept(&mut self, seq: u16, roc: u32, index: u64) {
        match self.s_l {
            None => {
                self.roc = roc;
                self.s_l = Some(seq);
            }
            Some(s_l) => {
                if roc == self.roc.wrapping_add(1) {
                    self.roc = roc;
                    self.s_l = Some(seq);
                } else if roc == self.roc && seq > s_l {
                    self.s_l = Some(seq);
                }
            }
        }
        self.window.accept(index);
    }
}

/// Checks and decrypts what one peer sends under one master key.
#[derive(Clone)]
pub struct SrtpReceiver {
    keys: SessionKeys,
    /// Rollover counters the key exchange announced, per SSRC.
    initial: Vec<(u32, u32)>,
    streams: Vec<RtpStream>,
    rtcp: Vec<(u32, ReplayWindow)>,
}

impl SrtpReceiver {
    /// `initial_rocs`: (SSRC, rollover counter) from the key exchange; other SSRCs start
    /// at 0.
    pub fn new(key: &MasterKey, initial_rocs: &[(u32, u32)]) -> SrtpReceiver {
        SrtpReceiver {
            keys: SessionKeys::derive(key),
            initial: initial_rocs.iter().take(MAX_STREAMS).copied().collect(),
            streams: Vec::new(),
            rtcp: Vec::new(),
        }
    }

    /// One SRTP packet -> the RTP packet.
    pub fn unprotect_rtp(&mut self, pkt: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let body_len = pkt.len().checked_sub(TAG_LEN).ok_or(SrtpError::Truncated)?;
        let (body, tag) = pkt.split_at(body_len);
        let hlen = rtp_header_len(body).ok_or(SrtpError::Truncated)?;
        let seq = u16::from_be_bytes([body[2], body[3]]);
        let ssrc = be32(&body[8..12]);
        let known = self.streams.iter().position(|s| s.ssrc == ssrc);
        let stream = match known {
            Some(i) => self.streams[i],
            None => RtpStream {
                ssrc,
                roc: self
                    .initial
                    .iter()
                    .find(|(s, _)| *s == ssrc)
                    .map_or(0, |(_, r)| *r),
                s_l: None,
                window: ReplayWindow::default(),
            },
        };
        let roc = stream.guess_roc(seq);
        let mut mac = self.keys.rtp_auth.clone();
        mac.update(body);
        mac.update(&roc.to_be_bytes());
        mac.verify_truncated_left(tag)
            .map_err(|_| SrtpError::Auth)?;
        let index = (u64::from(roc) << 16) | u64::from(seq);
        stream.window.check(index)?;
        let slot = match known {
            Some(i) => i,
            None if self.streams.len() < MAX_STREAMS => {
                self.streams.push(stream);
                self.streams.len() - 1
            }
            None => return Err(SrtpError::TooManyStreams),
        };
        self.streams[slot].accept(seq, roc, index);
        let mut out = body.to_vec();
        let k = &self.keys;
        crypt(&k.rtp_enc, &k.rtp_salt, ssrc, index, &mut out[hlen..]);
        Ok(out)
    }

    /// One SRTCP packet -> the RTCP packet.
    pub fn unprotect_rtcp(&mut self, pkt: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if pkt.len() < 8 + SRTCP_TRAILER {
            return Err(SrtpError::Truncated);
        }
        let (signed, tag) = pkt.split_at(pkt.len() - TAG_LEN);
        let mut mac = self.keys.rtcp_auth.clone();
        mac.update(signed);
        mac.verify_truncated_left(tag)
            .map_err(|_| SrtpError::Auth)?;
        let (body, e_index) = signed.split_at(signed.len() - 4);
        let e_index = be32(e_index);
        let index = u64::from(e_index & 0x7fff_ffff);
        let ssrc = be32(&body[4..8]);
        let known = self.rtcp.iter().position(|(s, _)| *s == ssrc);
        let window = known.map(|i| self.rtcp[i].1).unwrap_or_default();
        window.check(index)?;
        let slot = match known {
            Some(i) => i,
            None if self.rtcp.len() < MAX_STREAMS => {
                self.rtcp.push((ssrc, window));
                self.rtcp.len() - 1
            }
            None => return Err(SrtpError::TooManyStreams),
        };
        self.rtcp[slot].1.accept(index);
        let mut out = body.to_vec();
        if e_index & 0x8000_0000 != 0 {
            let k = &self.keys;
            crypt(&k.rtcp_enc, &k.rtcp_salt, ssrc, index, &mut out[8..]);
        }
        Ok(out)
    }
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

    fn key(k: &str, salt: &str) -> MasterKey {
        let mut m = [0u8; KEY_LEN];
        m[..16].copy_from_slice(&hex(k));
        m[16..].copy_from_slice(&hex(salt));
        MasterKey(m)
    }

    /// The key of docs/srtp-rtsps.md 2.1: 000102..0f, salt a0a1..ad.
    fn doc_key() -> MasterKey {
        key(
            "000102030405060708090a0b0c0d0e0f",
            "a0a1a2a3a4a5a6a7a8a9aaabacad",
        )
    }

    #[test]
    fn rfc3711_b3_key_derivation() {
        let k = SessionKeys::derive(&key(
            "E1F97A0D3E018BE0D64FA32C06DE4139",
            "0EC675AD498AFEEBB6960B3AABE6",
        ));
        assert_eq!(k.rtp_enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(k.rtp_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    }

    /// Vectors made with libsrtp (GStreamer srtpenc), see docs/srtp-rtsps.md 3.5.
    #[test]
    fn libsrtp_vectors() {
        let k = SessionKeys::derive(&doc_key());
        assert_eq!(k.rtp_enc.to_vec(), hex("544359b25c407d1f934eaf8a86af6541"));
        assert_eq!(k.rtcp_salt.to_vec(), hex("f7ce837b5e4bffc25a96218fc6c7"));
        let mut s = SrtpSender::new(&doc_key());
        let mut rtp = vec![0xaa; 3];
        rtp.extend(hex("80e0123400000064cafebabe6742c01fda01e0089f"));
        s.protect_rtp(&mut rtp, 3);
        assert_eq!(
            rtp[3..].to_vec(),
            hex("80e0123400000064cafebabe2e31b43b0bdf9d2bf7e0db880dc676072dd2df")
        );
        let mut rtcp = hex("80c80006cafebabeeeacd60000000000000000640000000100000009");
        s.protect_rtcp(&mut rtcp, 0);
        assert_eq!(
            rtcp,
            hex("80c80006cafebabe1373c2aa2a966bc907b65d38f4dc6d2210068a51800000015a7293513658c3d3febb")
        );

        let mut r = SrtpReceiver::new(&doc_key(), &[]);
        assert_eq!(
            r.unprotect_rtp(&rtp[3..]).unwrap(),
            hex("80e0123400000064cafebabe6742c01fda01e0089f")
        );
        assert_eq!(r.unprotect_rtp(&rtp[3..]), Err(SrtpError::Replay));
        assert_eq!(
            r.unprotect_rtcp(&rtcp).unwrap(),
            hex("80c80006cafebabeeeacd60000000000000000640000000100000009")
        );
        assert_eq!(r.unprotect_rtcp(&rtcp), Err(SrtpError::Replay));
    }

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 96];
        p.extend(seq.to_be_bytes());
        p.extend(1000u32.to_be_bytes());
        p.extend(0x1234_5678u32.to_be_bytes());
        p.extend([seq as u8; 20]);
        p
    }

    #[test]
    fn rollover_both_ways() {
        let mut s = SrtpSender::new(&doc_key());
        let mut r = SrtpReceiver::new(&doc_key(), &[]);
        let mut sent = Vec::new();
        for seq in [65533u16, 65534, 65535, 0, 1, 2] {
            let mut p = rtp(seq);
            s.protect_rtp(&mut p, 0);
            assert_eq!(p.len(), 32 + TAG_LEN);
            sent.push(p);
        }
        assert_eq!(s.roc(), 1);
        // Out of order across the wrap still decrypts.
        for i in [0, 1, 3, 2, 5, 4] {
            assert_eq!(
                r.unprotect_rtp(&sent[i]).unwrap(),
                rtp(u16::from(sent[i][3]) | u16::from(sent[i][2]) << 8)
            );
        }
    }

    #[test]
    fn tampering_and_garbage() {
        let mut s = SrtpSender::new(&doc_key());
        let mut r = SrtpReceiver::new(&doc_key(), &[]);
        let mut p = rtp(7);
        s.protect_rtp(&mut p, 0);
        let mut bad = p.clone();
        bad[15] ^= 1;
        assert_eq!(r.unprotect_rtp(&bad), Err(SrtpError::Auth));
        assert!(r.unprotect_rtp(&p).is_ok());
        let other = SrtpReceiver::new(&MasterKey::random(), &[]).unprotect_rtp(&p);
        assert_eq!(other, Err(SrtpError::Auth));
        for n in 0..p.len() {
            let _ = r.unprotect_rtp(&p[..n]);
            let _ = r.unprotect_rtcp(&p[..n]);
        }
        assert_eq!(r.unprotect_rtcp(&[0x80; 10]), Err(SrtpError::Truncated));
        // Too old for the window.
        let mut s2 = SrtpSender::new(&doc_key());
        let mut r2 = SrtpReceiver::new(&doc_key(), &[]);
        let mut old = rtp(1);
        s2.protect_rtp(&mut old, 0);
        let mut new = rtp(200);
        s2.protect_rtp(&mut new, 0);
        assert!(r2.unprotect_rtp(&new).is_ok());
        assert_eq!(r2.unprotect_rtp(&old), Err(SrtpError::Replay));
    }

    #[test]
    fn initial_roc_from_key_exchange() {
        let mut s = SrtpSender::new(&doc_key());
        s.roc = 5;
        s.last_seq = Some(9);
        let mut p = rtp(10);
        s.protect_rtp(&mut p, 0);
        assert_eq!(
            SrtpReceiver::new(&doc_key(), &[]).unprotect_rtp(&p),
            Err(SrtpError::Auth)
        );
        let mut r = SrtpReceiver::new(&doc_key(), &[(0x1234_5678, 5)]);
        assert_eq!(r.unprotect_rtp(&p).unwrap(), rtp(10));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", doc_key()), "MasterKey(..)");
    }
}
