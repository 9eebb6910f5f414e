//! Puts RTP packets received over UDP back in sequence order.

use bytes::Bytes;

/// A bounded reorder buffer. Packets are released in sequence order; a missing packet
/// holds later ones back until `window` packets have arrived after it (or [`flush`] is
/// called, e.g. from a timer), then it is given up as lost.
///
/// [`flush`]: Reorderer::flush
#[derive(Debug)]
pub struct Reorderer {
    slots: Vec<Option<Bytes>>,
    /// The next sequence number to release.
    next: Option<u16>,
    buffered: usize,
}

impl Reorderer {
    /// A buffer holding up to `window` packets (1..=1024).
    pub fn new(window: usize) -> Reorderer {
        Reorderer {
            slots: vec![None; window.clamp(1, 1024)],
            next: None,
            buffered: 0,
        }
    }

    /// Takes one packet (`sequence` from its header); appends the packets now in order to
    /// `out`. Duplicates and packets older than those released are dropped.
    pub fn push(&mut self, sequence: u16, packet: Bytes, out: &mut Vec<Bytes>) {
        let window = self.slots.len();
        let next = *self.next.get_or_insert(sequence);
        let ahead = sequence.wrapping_sub(next) as usize;
        if ahead >= 0x8000 {
            if 0x10000 - ahead > 3000 {
                // Far behind: the sender restarted. Release everything and follow it.
                self.flush(out);
                self.next = Some(sequence.wrapping_add(1));
                out.push(packet);
            }
            return;
        }
        if ahead >= window {
            // Too far ahead: give up on the packets that would not fit in the window.
            let new_next = sequence.wrapping_sub(window as u16 - 1);
            while self.next != Some(new_next) {
                if self.buffered == 0 {
                    self.next = Some(new_next);
                    break;
                }
                self.release_one(out);
            }
        }
        let next = self.next.unwrap_or(sequence);
        let ahead = sequence.wrapping_sub(next) as usize;
        let slot = sequence as usize % window;
        if ahead < window && self.slots[slot].is_none() {
            self.slots[slot] = Some(packet);
            self.buffered += 1;
        }
        self.drain(out);
    }

    /// Releases everything buffered, in order, skipping the gaps.
    pub fn flush(&mut self, out: &mut Vec<Bytes>) {
        while self.buffered > 0 {
            self.release_one(out);
        }
    }

    /// Advances past the next sequence number, releasing its packet if buffered.
    fn release_one(&mut self, out: &mut Vec<Bytes>) {
        let Some(next) = self.next else {
            return;
        };
        let slot = next as usize % self.slots.len();
        if let Some(p) = self.slots[slot].take() {
            self.buffered -= 1;
            out.push(p);
        }
        self.next = Some(next.wrapping_add(1));
    }

    fn drain(&mut self, out: &mut Vec<Bytes>) {
        while let Some(next) = self.next {
            let slot = next as usize % self.slots.len();
            let Some(p) = self.slots[slot].take() else {
                return;
            };
            self.buffered -= 1;
            out.push(p);
            self.next = Some(next.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Reorderer, seqs: &[u16]) -> Vec<u16> {
        let mut out = vec![];
        for s in seqs {
            r.push(*s, Bytes::copy_from_slice(&s.to_be_bytes()), &mut out);
        }
        out.iter()
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect()
    }

    #[test]
    fn reorders() {
        let mut r = Reorderer::new(4);
        assert_eq!(
            run(&mut r, &[65534, 0, 65535, 1, 1, 65535]),
            vec![65534, 65535, 0, 1]
        );
    }

    #[test]
    fn gives_up_on_lost_packets() {
        let mut r = Reorderer::new(4);
        assert_eq!(run(&mut r, &[10, 12, 13, 14]), vec![10]);
        // 16 does not fit while waiting for 11: 11 is given up.
        assert_eq!(run(&mut r, &[16]), vec![12, 13, 14]);
        let mut out = vec![];
        r.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(run(&mut r, &[17]), vec![17]);
        // A restart far behind is followed.
        assert_eq!(
            run(
                &mut r,
                &[5000u16.wrapping_neg(), 5000u16.wrapping_neg() + 1]
            )
            .len(),
            2
        );
    }
}
