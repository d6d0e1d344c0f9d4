//! The core's only source of randomness: a splitmix64 stream from `Config::seed`.
//!
//! Map hashing keys and generated object ids come from here, so two cores given the same seed and the
//! same inputs produce byte-identical outputs (the simulation asserts it), while the production binary
//! still gets unpredictable keys by seeding from the OS at start-up (the shell may read entropy; the
//! core may not).
use crate::hash::IdBuild;

#[derive(Debug, Clone)]
pub struct Seeds {
    state: u64,
}

impl Seeds {
    pub fn new(seed: u64) -> Seeds {
        Seeds { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Keys for one family of id-keyed maps.
    pub fn id_build(&mut self) -> IdBuild {
        IdBuild::with_keys(self.next_u64(), self.next_u64())
    }

    /// The random half of a generated ObjectID.
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let (mut a, mut b, mut c) = (Seeds::new(7), Seeds::new(7), Seeds::new(8));
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert_ne!(a.bytes16(), a.bytes16());
    }
}
