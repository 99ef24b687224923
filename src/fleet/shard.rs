//! `build --shard K/N`: the K-th of N disjoint slices of the kernels a run
//! names, so that N CI runners together build a fleet once. A kernel's
//! slice is a hash of its release (what `uname -r` says), so it does not
//! depend on the runner, on the order of the kernels, or on which other
//! kernels are in the list; a request whose tree cannot be read is placed
//! by its path as given (and fails in that slice, as it would unsharded).

use std::path::Path;
use std::str::FromStr;

use super::requests::Request;

/// Slice `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A `--shard` value that is not K/N.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not K/N with 1 <= K <= N (e.g. --shard 2/8)")]
pub struct BadShard(String);

impl FromStr for Shard {
    type Err = BadShard;
    fn from_str(s: &str) -> Result<Shard, BadShard> {
        let bad = || BadShard(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The slice (1-based) a kernel named `name` belongs to.
    pub fn slice_of(name: &str, count: u32) -> u32 {
        // The first 8 bytes of the sha256, big-endian.
        let n = u64::from_str_radix(&crate::digest::sha256_hex(name)[..16], 16).expect("hex digits");
        (n % u64::from(count)) as u32 + 1
    }

    /// Keep the requests of this slice.
    pub(super) fn select(&self, reqs: Vec<Request>) -> Vec<Request> {
        reqs.into_iter().filter(|r| Shard::slice_of(&shard_name(r), self.count) == self.index).collect()
    }
}

/// What places a request: its release, else its path as given.
fn shard_name(r: &Request) -> String {
    crate::kdir::release_of(Path::new(&r.kdir)).unwrap_or_else(|| r.label.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/8".parse::<Shard>().unwrap(), Shard { index: 2, count: 8 });
        for bad in ["0/2", "3/2", "1/0", "1", "a/b", "-1/2", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert_eq!(e.to_string(), format!("'{bad}' is not K/N with 1 <= K <= N (e.g. --shard 2/8)"));
        }
        assert_eq!(Shard { index: 1, count: 4 }.to_string(), "1/4");
    }

    #[test]
    fn slices_are_stable_and_spread() {
        // Fixed values: a slice must never move between versions of the tool
        // (runners of one CI run may use different builds of it).
        assert_eq!(Shard::slice_of("6.1.0-57-amd64", 1), 1);
        assert_eq!(Shard::slice_of("6.1.0-57-amd64", 8), 5);
        assert_eq!(Shard::slice_of("5.10.0-46-amd64", 8), 4);
        assert_eq!(Shard::slice_of("6.12.117+deb12-arm64", 8), 7);
        let names: Vec<String> = (0..1000).map(|i| format!("6.1.0-{i}-amd64")).collect();
        let mut per = [0u32; 8];
        for n in &names {
            let s = Shard::slice_of(n, 8);
            assert_eq!(s, Shard::slice_of(n, 8));
            per[(s - 1) as usize] += 1;
        }
        // 1000 kernels over 8 runners: each gets a fair share.
        assert!(per.iter().all(|&c| (80..=170).contains(&c)), "{per:?}");
    }
}
