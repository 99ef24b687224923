//! sha256 in hex: the fingerprints in manifests and cache keys, and the
//! check of a cached .ko against its manifest.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The sha256 of `data`, in hex.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(data.as_ref()))
}

/// The sha256 of a file's contents, in hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    Ok(sha256_hex(std::fs::read(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "abc").unwrap();
        assert_eq!(
            sha256_file(&t.path().join("f")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
