//! A fixed-seed PRNG for the suites that mutate fuzz inputs (`fuzz_corpus.rs`,
//! `remote_frames.rs`): xorshift64*, so every run of a suite tests the same inputs.
//!
//! Invariant: the sequence for a seed never changes (a failure found once is found again).

/// xorshift64*; the state must not be 0.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
