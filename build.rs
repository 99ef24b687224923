//! Embed templates/ into the binary, so that the one file `force-rmmod-gen`
//! is all an admin (or an initramfs) needs, and fingerprint them: the
//! fingerprint is part of the build cache key, so editing a template
//! invalidates every cached helper.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries: Vec<_> = walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("readable templates/"))
        .filter(|e| e.file_type().is_file())
        .collect();
    entries.sort_by(|a, b| a.path().cmp(b.path()));

    let mut hash = Sha256::new();
    let mut code = String::from("pub static TEMPLATES: &[(&str, &str)] = &[\n");
    for e in &entries {
        println!("cargo:rerun-if-changed={}", e.path().display());
        let name = e.path().strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(std::fs::read(e.path()).unwrap());
        hash.update([0]);
        writeln!(code, "    ({name:?}, include_str!({:?})),", e.path().display().to_string()).unwrap();
    }
    code.push_str("];\n");
    let digest = hex::encode(hash.finalize());
    writeln!(code, "pub const TEMPLATES_SHA256: &str = {digest:?};").unwrap();
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("templates.rs");
    std::fs::write(out, code).unwrap();
}
