//! An interleaved sample queue that reuses its allocation.

#[derive(Debug)]
pub(crate) struct Fifo<T> {
    buf: Vec<T>,
    start: usize,
    channels: usize,
}

impl<T: Copy + Default> Fifo<T> {
    pub(crate) fn new(channels: usize, capacity_frames: usize) -> Fifo<T> {
        Fifo {
            buf: Vec::with_capacity(channels * capacity_frames),
            start: 0,
            channels,
        }
    }

    /// Queued frames (samples per channel).
    pub(crate) fn frames(&self) -> usize {
        (self.buf.len() - self.start) / self.channels
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// The queued samples, interleaved.
    pub(crate) fn samples(&self) -> &[T] {
        &self.buf[self.start..]
    }

    /// Removes `frames` frames from the front.
    pub(crate) fn consume(&mut self, frames: usize) {
        self.start = (self.start + frames * self.channels).min(self.buf.len());
        if self.start == self.buf.len() {
            self.clear();
        }
    }

    /// Room for `frames` more frames at the back, zeroed, committed; returns it to fill.
    pub(crate) fn extend_zeroed(&mut self, frames: usize) -> &mut [T] {
        self.compact();
        let old = self.buf.len();
        self.buf.resize(old + frames * self.channels, T::default());
        &mut self.buf[old..]
    }

    fn compact(&mut self) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;

    #[test]
    fn queue_in_frames() {
        let mut f = Fifo::<i16>::new(2, 16);
        f.extend_zeroed(3).copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(f.frames(), 3);
        f.consume(1);
        assert_eq!(f.samples(), &[3, 4, 5, 6]);
        f.extend_zeroed(1)[0] = 9;
        assert_eq!(f.samples(), &[3, 4, 5, 6, 9, 0]);
        f.consume(5);
        assert_eq!(f.frames(), 0);
    }
}
