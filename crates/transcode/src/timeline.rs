//! Input timestamps -> sample-exact decisions, shared by both directions.
//!
//! The output of a transcoder is stamped by counting samples (so its PTS advance by exactly
//! one packet duration), and the sample count is kept locked to the input's PTS here, in the
//! input domain, before resampling:
//! - small deviations (jitter, rounding of ms timestamps) are left alone;
//! - a deviation of at least `tolerance` (a lost frame, or slow clock drift adding up) is
//!   corrected in samples: the missing span is concealed (silence or Opus PLC), or the overlap
//!   is cut from the frame, so the count matches the PTS again;
//! - a deviation over `rebase_after` (100 ms: a gap, a jump, a restart) re-bases the output
//!   timeline on the frame's PTS.

/// What to do with one decoded input frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// First frame, or a jump: restart the output timeline at this frame's PTS.
    Rebase,
    /// Keep the frame after inserting `insert` concealment samples before it (usually 0).
    Keep { insert: usize },
    /// Cut the first `cut` samples of the frame (all of it when `cut >= len`).
    Cut { cut: usize },
}

#[derive(Debug)]
pub(crate) struct Timeline {
    tolerance: i64,
    rebase_after: i64,
    /// PTS of the next input sample the sample count expects.
    next: Option<i64>,
}

impl Timeline {
    /// `rate`: the input clock, which is also the input's sample rate.
    pub(crate) fn new(rate: u32) -> Timeline {
        let rate = i64::from(rate.max(100));
        Timeline {
            tolerance: rate / 100,   // 10 ms
            rebase_after: rate / 10, // 100 ms
            next: None,
        }
    }

    /// PTS of the next input sample the sample count expects: the end of what was accepted.
    pub(crate) fn next(&self) -> Option<i64> {
        self.next
    }

    /// Forgets the position: the next frame re-bases.
    pub(crate) fn reset(&mut self) {
        self.next = None;
    }

    /// One frame of `len` decoded samples with PTS `pts`.
    pub(crate) fn step(&mut self, pts: i64, len: usize) -> Step {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        let end = pts.saturating_add(len);
        let Some(next) = self.next else {
            self.next = Some(end);
            return Step::Rebase;
        };
        let diff = pts.saturating_sub(next);
        if diff.unsigned_abs() > self.rebase_after.unsigned_abs() {
            self.next = Some(end);
            return Step::Rebase;
        }
        if diff >= self.tolerance {
            self.next = Some(end);
            // diff <= rebase_after, so it fits.
            return Step::Keep {
                insert: diff as usize,
            };
        }
        if -diff >= self.tolerance {
            let cut = -diff;
            if cut < len {
                self.next = Some(end);
            } // else: the whole frame overlaps what was already counted; `next` stays.
            return Step::Cut { cut: cut as usize };
        }
        self.next = Some(next.saturating_add(len));
        Step::Keep { insert: 0 }
    }
}

/// `pts` (in `from` Hz) expressed in `to` Hz, rounded to nearest.
pub(crate) fn rescale(pts: i64, from: u32, to: u32) -> i64 {
    if from == to || from == 0 {
        return pts;
    }
    let num = i128::from(pts) * i128::from(to);
    let den = i128::from(from);
    let q = if num >= 0 {
        (num + den / 2) / den
    } else {
        (num - den / 2) / den
    };
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frame_rebases_then_contiguous_keeps() {
        let mut t = Timeline::new(48000);
        assert_eq!(t.step(1000, 1024), Step::Rebase);
        assert_eq!(t.step(2024, 1024), Step::Keep { insert: 0 });
        // Jitter under 10 ms is left alone and does not accumulate.
        assert_eq!(t.step(3048 + 200, 1024), Step::Keep { insert: 0 });
        assert_eq!(t.step(4072 - 200, 1024), Step::Keep { insert: 0 });
        assert_eq!(t.step(5096, 1024), Step::Keep { insert: 0 });
    }

    #[test]
    fn lost_frame_is_concealed_overlap_cut_jump_rebased() {
        let mut t = Timeline::new(44100);
        assert_eq!(t.step(0, 1024), Step::Rebase);
        // One frame lost.
        assert_eq!(t.step(2048, 1024), Step::Keep { insert: 1024 });
        assert_eq!(t.step(3072, 1024), Step::Keep { insert: 0 });
        // A frame repeated: all of it overlaps.
        assert_eq!(t.step(3072, 1024), Step::Cut { cut: 1024 });
        assert_eq!(t.step(4096, 1024), Step::Keep { insert: 0 });
        // Partial overlap of 600 samples (> 10 ms at 44.1 kHz).
        assert_eq!(t.step(5120 - 600, 1024), Step::Cut { cut: 600 });
        assert_eq!(t.step(5544, 1024), Step::Keep { insert: 0 });
        // A jump of 2 s, and back.
        assert_eq!(t.step(6568 + 88200, 1024), Step::Rebase);
        assert_eq!(t.step(0, 1024), Step::Rebase);
        assert_eq!(t.step(1024, 1024), Step::Keep { insert: 0 });
    }

    #[test]
    fn slow_drift_is_corrected_in_small_steps() {
        // Input clock 100 ppm fast: PTS advance 1024.1024 per 1024 samples.
        let mut t = Timeline::new(48000);
        let mut inserted = 0usize;
        let mut counted = 0i64;
        for i in 0..200_000i64 {
            let pts = (i as f64 * 1024.1024).round() as i64;
            match t.step(pts, 1024) {
                Step::Rebase => assert_eq!(i, 0),
                Step::Keep { insert } => {
                    assert!(insert < 960, "corrections stay small: {insert}");
                    inserted += insert;
                }
                Step::Cut { .. } => panic!("never cuts when input runs fast"),
            }
            counted = i * 1024 + 1024 + inserted as i64;
            let drift = (pts + 1024) - counted;
            assert!(drift.abs() < 480, "drift {drift} at frame {i}");
        }
        assert!(inserted > 0 && counted > 0);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let mut t = Timeline::new(48000);
        let _ = t.step(i64::MAX, usize::MAX);
        let _ = t.step(i64::MIN, 1024);
        let _ = t.step(i64::MAX - 5, 1024);
        let _ = t.step(i64::MAX, 1024);
        assert_eq!(rescale(i64::MAX, 1, 48000), i64::MAX);
        assert_eq!(rescale(44100, 44100, 48000), 48000);
        assert_eq!(rescale(-44100, 44100, 48000), -48000);
    }
}
