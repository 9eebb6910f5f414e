//! Bit reading and writing (from ferrocast-codec) and hex helpers for SDP parameters.

pub(crate) use ferrocast_codec::bits::{rbsp, BitReader, BitWriter};

/// Lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex digits (either case); `None` for odd lengths or other characters.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks(2)
        .map(|c| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(c[0])? * 16 + d(c[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golomb() {
        // 1, 010, 011, 00100 -> 0, 1, 2, 3
        let data = [0b1010_0110, 0b0100_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(
            (r.ue(), r.ue(), r.ue(), r.ue()),
            (Some(0), Some(1), Some(2), Some(3))
        );
        let mut r = BitReader::new(&[0, 0, 0, 0, 0]);
        assert_eq!(r.ue(), None);
        let mut r = BitReader::new(&[0b0100_1100]);
        assert_eq!((r.se(), r.se()), (Some(1), Some(-1)));
    }

    #[test]
    fn writer_and_hex() {
        let mut w = BitWriter::default();
        w.put(0b101, 3);
        w.put(0xff, 8);
        assert_eq!(w.finish(), vec![0b1011_1111, 0b1110_0000]);
        assert_eq!(unhex("0aFf"), Some(vec![10, 255]));
        assert_eq!(unhex("0a0"), None);
        assert_eq!(hex(&[1, 0xab]), "01ab");
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }
}
