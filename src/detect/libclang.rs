//! Detection, primary method: parse `<linux/module.h>` with libclang
//! (clang-sys), using the tree's own include paths and configuration, and
//! read `struct module` (and `struct module_ref`) field by field: names,
//! C types and the offsets clang computes. The offsets are right unless the
//! kernel randomises struct layouts (then `Facts::offsets_reliable` is
//! false).
//!
//! Only the few structs are read, straight from libclang's cursors, with
//! function bodies skipped: a generator such as bindgen would build its
//! model of every declaration the header pulls in, about twice the cost of
//! the parse itself.

use std::ffi::{CStr, CString, c_char, c_int, c_ulong};
use std::path::{Path, PathBuf};
use std::ptr;

use clang_sys::*;

use super::{FieldInfo, Layout};
use crate::kdir::KernelTree;

/// Why libclang could not give an answer (the caller falls back to probes).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The libclang arguments that make a kernel header parse like Kbuild
/// compiles it: the tree's include paths and forced includes, no host
/// headers. `-nostdlibinc` (not Kbuild's `-nostdinc`) keeps libclang's own
/// stddef.h/stdarg.h, which kernels before 5.15 include, without asking a
/// `clang` program where they are.
pub fn clang_args(tree: &KernelTree) -> Vec<String> {
    let mut args = vec!["-nostdlibinc".to_string()];
    for d in tree.include_dirs() {
        args.push(format!("-I{}", d.display()));
    }
    for f in tree.forced_includes() {
        args.push("-include".into());
        args.push(f.display().to_string());
    }
    args.extend(
        ["-D__KERNEL__", "-DMODULE", "-DKBUILD_MODNAME=\"force_rmmod_probe\"", "-fno-builtin", "-w"].map(String::from),
    );
    args.push(format!("--target={}", tree.clang_target()));
    args
}

/// Where Debian and Ubuntu install libclang: the newest
/// `/usr/lib/llvm-N/lib` holding one, when `LIBCLANG_PATH` does not name a
/// directory already. clang-sys, told nothing, scans every directory two
/// levels under `/usr/lib*` and `/usr/local/lib*` for candidates, about
/// 40 ms: longer than the parse of `<linux/module.h>` itself. Elsewhere
/// (RHEL's `/usr/lib64`, a local build) its own search stays in charge.
pub fn packaged_dir() -> Option<PathBuf> {
    if std::env::var_os("LIBCLANG_PATH").is_some() {
        return None;
    }
    let version =
        |dir: &Path| -> Option<u32> { dir.parent()?.file_name()?.to_str()?.strip_prefix("llvm-")?.parse().ok() };
    let dirs = glob::glob("/usr/lib/llvm-*/lib").ok()?.flatten().filter(|d| {
        ["libclang.so*", "libclang-*.so*"]
            .iter()
            .any(|f| glob::glob(&format!("{}/{f}", d.display())).is_ok_and(|mut files| files.any(|f| f.is_ok())))
    });
    dirs.filter(|d| version(d).is_some()).max_by_key(|d| version(d))
}

/// Parse the tree's `struct module`.
pub fn parse(tree: &KernelTree) -> Result<Layout, Unavailable> {
    clang_sys::load().map_err(|e| Unavailable(load_failure(&e)))?;
    read_layout(&clang_args(tree))
}

/// `#include <linux/module.h>` with `args`, read back as a [`Layout`].
fn read_layout(args: &[String]) -> Result<Layout, Unavailable> {
    let tu = TranslationUnit::parse("force_rmmod_detect.h", "#include <linux/module.h>\n", args)?;
    if let Some(errors) = tu.errors() {
        let first: Vec<&str> = errors.iter().take(3).map(String::as_str).collect();
        return Err(Unavailable(format!("libclang could not parse the headers: {}", first.join(" | "))));
    }
    tu.layout().ok_or_else(|| Unavailable("libclang found no definition of struct module".into()))
}

/// One line for a libclang that could not be loaded. clang-sys names every
/// file it tried, with each one's error; the count of rejected files is
/// enough to tell "none installed" from "installed but unusable".
fn load_failure(err: &str) -> String {
    let rejected = err.split_once("(invalid: [").map(|(_, list)| list.matches("), (").count() + 1);
    let found = match rejected {
        Some(n) => format!("{n} candidate file(s) could not be loaded"),
        None => "no libclang.so found".into(),
    };
    format!(
        "libclang not loaded ({found}); install it (Debian/Ubuntu: libclang-dev, RHEL/CentOS: clang-devel) \
         or set LIBCLANG_PATH to its directory"
    )
}

/// One translation unit, parsed with function bodies skipped: only
/// declarations matter here, and kernel headers are mostly inline function
/// bodies (skipping them makes the parse several times faster).
struct TranslationUnit {
    index: CXIndex,
    tu: CXTranslationUnit,
}

impl TranslationUnit {
    /// Parse `contents` as the header `name` with the compiler `args`.
    fn parse(name: &str, contents: &str, args: &[String]) -> Result<Self, Unavailable> {
        let c = |s: &str| CString::new(s).map_err(|_| Unavailable(format!("a NUL byte in the clang argument {s:?}")));
        let (c_name, c_contents) = (c(name)?, c(contents)?);
        let c_args = args.iter().map(|a| c(a)).collect::<Result<Vec<_>, _>>()?;
        let argv: Vec<*const c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        let mut unsaved = CXUnsavedFile {
            Filename: c_name.as_ptr(),
            Contents: c_contents.as_ptr(),
            Length: contents.len() as c_ulong,
        };
        let mut tu = ptr::null_mut();
        // SAFETY: libclang is loaded (clang_sys::load); every pointer passed
        // lives until the call returns, and libclang copies what it keeps.
        let (index, rc) = unsafe {
            let index = clang_createIndex(0, 0);
            let rc = clang_parseTranslationUnit2(
                index,
                c_name.as_ptr(),
                argv.as_ptr(),
                argv.len() as c_int,
                &mut unsaved,
                1,
                CXTranslationUnit_SkipFunctionBodies | CXTranslationUnit_Incomplete,
                &mut tu,
            );
            (index, rc)
        };
        let unit = TranslationUnit { index, tu };
        if rc != CXError_Success || tu.is_null() {
            return Err(Unavailable(format!("libclang could not parse the headers (error code {rc})")));
        }
        Ok(unit)
    }

    /// The error diagnostics, one line each; None if there are none.
    fn errors(&self) -> Option<Vec<String>> {
        let mut errors = Vec::new();
        // SAFETY: self.tu is a live translation unit; each diagnostic is
        // disposed of after use.
        unsafe {
            for i in 0..clang_getNumDiagnostics(self.tu) {
                let d = clang_getDiagnostic(self.tu, i);
                if clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error {
                    let text = string(clang_formatDiagnostic(d, clang_defaultDiagnosticDisplayOptions()));
                    errors.push(format!("clang diagnosed error: {text}"));
                }
                clang_disposeDiagnostic(d);
            }
        }
        (!errors.is_empty()).then_some(errors)
    }

    /// `struct module`, `struct module_ref` and whether `struct module_use`
    /// is public, as clang lays them out.
    fn layout(&self) -> Option<Layout> {
        // SAFETY: self.tu is a live translation unit.
        let top = children(unsafe { clang_getTranslationUnitCursor(self.tu) });
        let module = definition(&top, "module")?;
        // A struct clang cannot lay out has no size: no answer.
        // SAFETY: module is a cursor of self.tu.
        if unsafe { clang_Type_getSizeOf(clang_getCursorType(module)) } < 0 {
            return None;
        }
        let inside = children(module);
        // Declared inside struct module from 2.6.34 to 3.2, at file scope otherwise.
        let module_ref = definition(&top, "module_ref").or_else(|| definition(&inside, "module_ref"));
        let module_use_public =
            definition(&top, "module_use").is_some_and(|u| fields(u).iter().any(|f| f.name == "source"));
        Some(Layout { fields: fields(module), module_ref: module_ref.map(fields), module_use_public })
    }
}

impl Drop for TranslationUnit {
    fn drop(&mut self) {
        // SAFETY: both were created in parse and are disposed of once.
        unsafe {
            if !self.tu.is_null() {
                clang_disposeTranslationUnit(self.tu);
            }
            clang_disposeIndex(self.index);
        }
    }
}

/// The direct children of a cursor.
fn children(cursor: CXCursor) -> Vec<CXCursor> {
    extern "C" fn push(c: CXCursor, _parent: CXCursor, data: CXClientData) -> CXChildVisitResult {
        // SAFETY: data is the Vec passed to clang_visitChildren below.
        unsafe { (*(data as *mut Vec<CXCursor>)).push(c) };
        CXChildVisit_Continue
    }
    let mut out: Vec<CXCursor> = Vec::new();
    // SAFETY: the visitor only pushes into `out`, which outlives the call.
    unsafe { clang_visitChildren(cursor, push, &mut out as *mut Vec<CXCursor> as CXClientData) };
    out
}

/// The definition (not a forward declaration) of `struct name` among `cursors`.
fn definition(cursors: &[CXCursor], name: &str) -> Option<CXCursor> {
    // SAFETY: cursors of a live translation unit.
    cursors.iter().copied().find(|&c| unsafe {
        clang_getCursorKind(c) == CXCursor_StructDecl
            && clang_isCursorDefinition(c) != 0
            && string(clang_getCursorSpelling(c)) == name
    })
}

/// The members of a struct, with their C types and byte offsets.
fn fields(strukt: CXCursor) -> Vec<FieldInfo> {
    children(strukt)
        .into_iter()
        // SAFETY: cursors of a live translation unit.
        .filter(|&c| unsafe { clang_getCursorKind(c) } == CXCursor_FieldDecl)
        .map(|c| {
            // SAFETY: as above; a negative offset is libclang's "unknown".
            let (name, ty, bits) = unsafe {
                (string(clang_getCursorSpelling(c)), clang_getCursorType(c), clang_Cursor_getOffsetOfField(c))
            };
            FieldInfo { name, ty: c_type(ty), offset: u64::try_from(bits).ok().map(|b| b / 8) }
        })
        .collect()
}

/// Spell a field type the way the knowledge table does: typedef names kept
/// (`atomic_t`, `local_t`), `struct` tags written, `T *`, `T [N]`.
#[allow(non_upper_case_globals)] // libclang's names for its type kinds
fn c_type(ty: CXType) -> String {
    // SAFETY: types of a live translation unit.
    unsafe {
        match ty.kind {
            CXType_Elaborated => c_type(clang_Type_getNamedType(ty)),
            CXType_Typedef => string(clang_getTypedefName(ty)),
            CXType_Pointer => {
                let pointee = clang_getPointeeType(ty);
                if matches!(clang_getCanonicalType(pointee).kind, CXType_FunctionProto | CXType_FunctionNoProto) {
                    return "function pointer".into();
                }
                let inner = c_type(pointee);
                let konst = if clang_isConstQualifiedType(pointee) != 0 { "const " } else { "" };
                if inner.ends_with('*') { format!("{konst}{inner}*") } else { format!("{konst}{inner} *") }
            }
            CXType_ConstantArray => {
                format!("{} [{}]", c_type(clang_getArrayElementType(ty)), clang_getArraySize(ty))
            }
            CXType_Bool => "bool".into(),
            CXType_Char_S | CXType_Char_U | CXType_SChar => "char".into(),
            CXType_UChar => "unsigned char".into(),
            CXType_Short => "short".into(),
            CXType_UShort => "unsigned short".into(),
            CXType_Int => "int".into(),
            CXType_UInt => "unsigned int".into(),
            CXType_Long => "long".into(),
            CXType_ULong => "unsigned long".into(),
            CXType_LongLong => "long long".into(),
            CXType_ULongLong => "unsigned long long".into(),
            CXType_Void => "void".into(),
            CXType_Record | CXType_Enum => {
                let decl = clang_getTypeDeclaration(ty);
                let tag = match clang_getCursorKind(decl) {
                    CXCursor_UnionDecl => "union",
                    CXCursor_EnumDecl => "enum",
                    _ => "struct",
                };
                format!("{tag} {}", string(clang_getCursorSpelling(decl)))
            }
            _ => string(clang_getTypeSpelling(ty)),
        }
    }
}

/// A libclang string as an owned one (and the libclang one freed).
///
/// # Safety
/// `s` must be a string libclang returned and nobody else disposes of.
unsafe fn string(s: CXString) -> String {
    // SAFETY: per the contract above.
    unsafe {
        let p = clang_getCString(s);
        let out = if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() };
        clang_disposeString(s);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_libclang_is_one_short_line() {
        let none = "couldn't find any valid shared libraries matching: ['libclang.so', 'libclang-*.so'], set the \
                    `LIBCLANG_PATH` environment variable to a path where one of these files can be found";
        let msg = load_failure(none);
        assert!(msg.contains("no libclang.so found") && msg.contains("LIBCLANG_PATH"), "{msg}");
        let broken = format!(
            "{none} (invalid: [(/usr/lib/libclang.so: failed to fill whole buffer), (/usr/lib/libclang.so.1: bad ELF)])"
        );
        let msg = load_failure(&broken);
        assert!(msg.contains("2 candidate file(s) could not be loaded"), "{msg}");
        assert!(!msg.contains('\n') && !msg.contains("fill whole buffer"), "{msg}");
    }

    /// On Debian/Ubuntu (scripts/install-deps installs libclang-dev) the
    /// packaged libclang is found without clang-sys's scan. (That clang-sys
    /// then loads it is what every detection through the binary shows:
    /// tests/detect_eras.rs.)
    #[test]
    fn the_packaged_libclang_is_named() {
        if std::env::var_os("LIBCLANG_PATH").is_some() {
            assert_eq!(packaged_dir(), None, "LIBCLANG_PATH is the user's choice");
            return;
        }
        let dir = packaged_dir().expect("/usr/lib/llvm-N/lib with a libclang (scripts/install-deps)");
        assert!(dir.starts_with("/usr/lib") && dir.ends_with("lib"), "{}", dir.display());
        let lib = glob::glob(&format!("{}/libclang*.so*", dir.display())).unwrap().flatten().find(|f| f.exists());
        assert!(lib.is_some(), "no libclang in {}", dir.display());
    }

    /// A header with every shape the knowledge table distinguishes, read
    /// through the installed libclang.
    #[test]
    fn reads_struct_module_through_libclang() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("linux")).unwrap();
        std::fs::write(
            dir.path().join("linux/module.h"),
            "typedef struct { int counter; } atomic_t;\n\
             typedef unsigned long local_t;\n\
             struct task_struct;\n\
             struct list_head { struct list_head *next, *prev; };\n\
             struct module_use { struct list_head source_list; struct module *source; };\n\
             struct module {\n\
             \tchar name[56];\n\
             \tstruct module_ref { local_t incs; unsigned int decs; } *refptr;\n\
             \tstruct module_ref ref[64];\n\
             \tatomic_t refcnt;\n\
             \tstruct task_struct *waiter;\n\
             \tconst char *version;\n\
             \tvoid (*exit)(void);\n\
             \tstruct list_head source_list;\n\
             };\n",
        )
        .unwrap();
        clang_sys::load().unwrap_or_else(|e| panic!("libclang (scripts/install-deps installs it): {e}"));
        let args = vec![format!("-I{}", dir.path().display()), "--target=x86_64-linux-gnu".into()];
        let l = read_layout(&args).unwrap_or_else(|e| panic!("{}", e.0));
        let get = |n: &str| l.fields.iter().find(|f| f.name == n).unwrap_or_else(|| panic!("no {n}")).clone();
        assert_eq!(get("name").ty, "char [56]");
        assert_eq!(get("refptr").ty, "struct module_ref *");
        assert_eq!(get("refptr").offset, Some(56));
        assert_eq!(get("ref").ty, "struct module_ref [64]");
        assert_eq!(get("ref").offset, Some(64));
        assert_eq!(get("refcnt").ty, "atomic_t");
        assert_eq!(get("refcnt").offset, Some(64 + 64 * 16));
        assert_eq!(get("waiter").ty, "struct task_struct *");
        assert_eq!(get("version").ty, "const char *");
        assert_eq!(get("exit").ty, "function pointer");
        assert_eq!(get("source_list").ty, "struct list_head");
        let r = l.module_ref.expect("the nested struct module_ref");
        assert_eq!((r[0].name.as_str(), r[0].ty.as_str()), ("incs", "local_t"));
        assert_eq!((r[1].name.as_str(), r[1].ty.as_str()), ("decs", "unsigned int"));
        assert!(l.module_use_public);
    }

    /// A header that does not compile is no answer, with clang's words.
    #[test]
    fn a_header_error_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("linux")).unwrap();
        std::fs::write(dir.path().join("linux/module.h"), "struct module { no_such_type refcnt; };\n").unwrap();
        clang_sys::load().unwrap_or_else(|e| panic!("libclang (scripts/install-deps installs it): {e}"));
        let e = read_layout(&[format!("-I{}", dir.path().display())]).expect_err("an error");
        assert!(e.0.starts_with("libclang could not parse the headers: clang diagnosed error: "), "{}", e.0);
        assert!(e.0.contains("unknown type name 'no_such_type'"), "{}", e.0);
    }

    /// struct module's field offsets from bindgen's layout tests: a second,
    /// independent reading of the same libclang parse.
    fn bindgen_offsets(args: &[String]) -> std::collections::BTreeMap<String, u64> {
        let code = bindgen::Builder::default()
            .header_contents("force_rmmod_detect.h", "#include <linux/module.h>\n")
            .clang_args(args)
            .allowlist_type("module")
            .layout_tests(true)
            .formatter(bindgen::Formatter::None)
            .detect_include_paths(false)
            .generate()
            .expect("bindgen parses what read_layout parsed")
            .to_string();
        // `["Offset of field: module::refcnt"][offset_of!(module, refcnt) - 1208usize]`
        code.split("Offset of field: module::")
            .skip(1)
            .filter_map(|chunk| {
                let (field, rest) = chunk.split_once('"')?;
                let digits: String = rest[rest.find(" - ")? + 3..].chars().take_while(char::is_ascii_digit).collect();
                // bindgen renames Rust keywords: `ref` is `ref_`.
                let field = if field == "ref_" { "ref" } else { field };
                Some((field.to_string(), digits.parse().ok()?))
            })
            .collect()
    }

    /// Every named field of struct module has the offset bindgen computes.
    fn agrees_with_bindgen(what: &str, args: &[String]) {
        let ours = read_layout(args).unwrap_or_else(|e| panic!("{what}: {}", e.0));
        let theirs = bindgen_offsets(args);
        assert!(theirs.len() >= 10, "{what}: bindgen gave {} offsets", theirs.len());
        for (name, off) in theirs.iter().filter(|(n, _)| !n.starts_with("_bitfield") && !n.starts_with("__bindgen")) {
            let f = ours.fields.iter().find(|f| &f.name == name).unwrap_or_else(|| panic!("{what}: no field {name}"));
            assert_eq!(f.offset, Some(*off), "{what}: offset of {name}");
        }
    }

    #[test]
    fn offsets_agree_with_bindgen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("linux")).unwrap();
        let fields: String = (0..12).map(|i| format!("\tchar c{i}; long l{i}; short s{i}[3]; void *p{i};\n")).collect();
        std::fs::write(
            dir.path().join("linux/module.h"),
            format!("struct module {{\n{fields}\tstruct {{ int a; }} ref;\n\tunsigned int flags : 3;\n}};\n"),
        )
        .unwrap();
        clang_sys::load().unwrap_or_else(|e| panic!("libclang (scripts/install-deps installs it): {e}"));
        agrees_with_bindgen("synthetic header", &[format!("-I{}", dir.path().display())]);
    }

    /// The same on the real trees of scripts/fetch-kernels.
    #[test]
    #[ignore = "real kernel trees: scripts/test-all runs it"]
    fn offsets_agree_with_bindgen_on_real_trees() {
        let root = crate::cache::default_root();
        clang_sys::load().unwrap_or_else(|e| panic!("libclang (scripts/install-deps installs it): {e}"));
        for name in ["5.10", "6.1", "6.12"] {
            let env = root.join("kernels").join(name).join("env");
            let text = std::fs::read_to_string(&env)
                .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-kernels {name}", env.display()));
            let kdir = text.lines().find_map(|l| l.strip_prefix("KDIR=")).expect("KDIR= in the env file");
            let tree = KernelTree::open(std::path::Path::new(kdir.trim_matches('"')), None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            agrees_with_bindgen(name, &clang_args(&tree));
        }
    }
}
