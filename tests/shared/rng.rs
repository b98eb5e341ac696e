//! The one fixed-seed PRNG of the test suites (xorshift64*, seeded through splitmix64), for
//! everything a test draws at random: mutated fuzz inputs (`engine/fuzz_corpus.rs`,
//! `remote/frames.rs`), garbage bytes (`crash/wal_damage.rs`), kill moments and workloads
//! (`crash/kill9.rs`), spellings of JSON text (`conformance/config_props.rs`) and random
//! configs (`mongo/lookup.rs`). No test keeps a generator of its own.
//!
//! Invariant: the sequence for a seed never changes (a failure found once is found again).

/// xorshift64*; the state must not be 0 ([`Rng::new`] makes any seed a valid state).
pub struct Rng(pub u64);

impl Rng {
    /// A generator for any `seed` (0 included): the seed goes through splitmix64 first, so
    /// nearby seeds give unrelated sequences.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.below_u64(n as u64) as usize
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below_u64(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// `n` random lowercase ASCII letters.
    pub fn letters(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'a' + (self.below(26) as u8)))
            .collect()
    }
}
