//! The fuzz targets' seed corpora, run on stable: every file of
//! fuzz/corpus/NAME/ through `force_rmmod_gen::fuzzing` NAME (a panic fails
//! the test). Where no nightly toolchain can run `cargo fuzz`, this is what
//! scripts/fuzz runs instead. Also holds the targets' four lists equal: the
//! table in src/fuzzing.rs, the fuzz crate's `[[bin]]`s, the files of
//! fuzz/fuzz_targets/ and the corpus directories.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use force_rmmod_gen::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn names_in(dir: &Path, strip: &str) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(strip).to_string())
        .collect()
}

#[test]
fn every_corpus_file_runs_through_its_target() {
    let mut runs = 0;
    for (name, body) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no seed corpus for target {name} ({}: {e})", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: an empty seed corpus", dir.display());
        for f in files {
            let data = fs::read(&f).unwrap();
            if std::panic::catch_unwind(|| body(&data)).is_err() {
                panic!("fuzz target {name} panics on {}", f.display());
            }
            runs += 1;
        }
    }
    println!("fuzz corpora: {runs} inputs through {} targets", TARGETS.len());
}

#[derive(serde::Deserialize)]
struct FuzzCrate {
    bin: Vec<Bin>,
}

#[derive(serde::Deserialize)]
struct Bin {
    name: String,
    path: String,
}

#[test]
fn the_target_table_the_fuzz_crate_its_files_and_the_corpora_agree() {
    let table: BTreeSet<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    assert!(table.len() >= 8, "{table:?}");
    let krate: FuzzCrate = toml::from_str(&fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap()).unwrap();
    let bins: BTreeSet<String> = krate.bin.iter().map(|b| b.name.clone()).collect();
    assert_eq!(bins, table, "fuzz/Cargo.toml's [[bin]]s vs src/fuzzing.rs's TARGETS");
    for b in &krate.bin {
        let src = fs::read_to_string(fuzz_dir().join(&b.path)).unwrap();
        assert!(
            src.contains(&format!("force_rmmod_gen::fuzzing::{}(data)", b.name)),
            "{} does not call fuzzing::{}",
            b.path,
            b.name
        );
    }
    assert_eq!(names_in(&fuzz_dir().join("fuzz_targets"), ".rs"), table, "the files of fuzz/fuzz_targets/");
    assert_eq!(names_in(&fuzz_dir().join("corpus"), ""), table, "the directories of fuzz/corpus/");
}
