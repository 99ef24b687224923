//! Detection, primary method: parse `<linux/module.h>` with libclang
//! (through bindgen), using the tree's own include paths and configuration,
//! and read `struct module` (and `struct module_ref`) field by field.
//!
//! bindgen gives us a Rust rendering of the structs plus layout tests with
//! every field offset; we read both back with `syn`. Offsets are what clang
//! computes: right unless the kernel was built with the randstruct plugin
//! (see `Layout::offsets_reliable`).

use std::path::PathBuf;
use std::process::Command;

use syn::{Fields, Item, Type};

use super::{FieldInfo, Layout};
use crate::kdir::KernelTree;

/// Why libclang could not give an answer (the caller falls back to probes).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The libclang arguments that make a kernel header parse like Kbuild
/// compiles it (see docs in test-environment: zero errors on Debian trees).
pub fn clang_args(tree: &KernelTree) -> Vec<String> {
    let mut args = vec!["-nostdinc".to_string()];
    if let Some(inc) = clang_builtin_include() {
        args.push("-isystem".into());
        args.push(inc.display().to_string());
    }
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

/// clang's own stddef.h/stdarg.h dir: `-nostdinc` hides it, and kernels
/// before 5.15 include <stdarg.h>.
fn clang_builtin_include() -> Option<PathBuf> {
    if let Ok(out) = Command::new("clang").arg("-print-file-name=include").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.is_absolute() && p.is_dir() {
            return Some(p);
        }
    }
    // No clang driver, only libclang: use the resource dir next to it.
    let mut dirs: Vec<PathBuf> = glob_dirs("/usr/lib", "llvm-", "lib/clang");
    dirs.sort();
    dirs.into_iter().rev().find_map(|d| {
        let mut v: Vec<_> =
            std::fs::read_dir(&d).ok()?.flatten().map(|e| e.path().join("include")).filter(|p| p.is_dir()).collect();
        v.sort();
        v.pop()
    })
}

fn glob_dirs(base: &str, prefix: &str, sub: &str) -> Vec<PathBuf> {
    std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path().join(sub))
        .filter(|p| p.is_dir())
        .collect()
}

/// Parse the tree's `struct module`.
pub fn parse(tree: &KernelTree) -> Result<Layout, Unavailable> {
    // bindgen panics instead of failing when libclang is missing: look first.
    clang_sys::load().map_err(|e| Unavailable(load_failure(&e)))?;
    let args = clang_args(tree);
    let result = std::panic::catch_unwind(|| {
        bindgen::Builder::default()
            .header_contents("force_rmmod_detect.h", "#include <linux/module.h>\n")
            .clang_args(&args)
            .allowlist_type("module")
            .allowlist_type("module_ref")
            .allowlist_type("module_use")
            .layout_tests(true)
            .derive_debug(false)
            .derive_copy(false)
            .generate_comments(false)
            .use_core()
            // We read the output with syn: rustfmt would only cost time, and
            // the host's own include paths must never leak into a kernel parse.
            .formatter(bindgen::Formatter::None)
            .detect_include_paths(false)
            .generate()
    });
    let bindings = match result {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            let msg = e.to_string();
            let first: Vec<&str> = msg.lines().take(3).collect();
            return Err(Unavailable(format!("libclang could not parse the headers: {}", first.join(" | "))));
        }
        Err(_) => return Err(Unavailable("bindgen panicked while parsing the headers".into())),
    };
    let code = bindings.to_string();
    from_bindings(&code).ok_or_else(|| Unavailable("libclang found no definition of struct module".into()))
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

/// Read `struct module` / `struct module_ref` back out of bindgen's output.
pub fn from_bindings(code: &str) -> Option<Layout> {
    let file = syn::parse_file(code).ok()?;
    let mut module = None;
    let mut module_ref = None;
    let mut module_use_public = false;
    for item in &file.items {
        if let Item::Struct(s) = item {
            let fields = match &s.fields {
                Fields::Named(n) => n
                    .named
                    .iter()
                    .filter_map(|f| {
                        let name = f.ident.as_ref()?.to_string();
                        Some(FieldInfo { name: c_name(&name), ty: c_type(&f.ty), offset: None })
                    })
                    .collect::<Vec<_>>(),
                _ => continue,
            };
            match s.ident.to_string().as_str() {
                "module" => module = Some(fields),
                // Declared inside struct module (2.6.34 to 3.2), bindgen
                // names it module_module_ref.
                "module_ref" | "module_module_ref" => module_ref = Some(fields),
                "module_use" => module_use_public = fields.iter().any(|f| f.name == "source"),
                _ => {}
            }
        }
    }
    let mut fields = module?;
    // bindgen turns a struct it cannot lay out into an opaque blob.
    if fields.iter().all(|f| f.name.starts_with("_bindgen_opaque")) {
        return None;
    }
    for (strukt, field, off) in offsets(code) {
        if strukt == "module"
            && let Some(f) = fields.iter_mut().find(|f| f.name == c_name(&field))
        {
            f.offset = Some(off);
        }
    }
    Some(Layout { fields, module_ref, module_use_public })
}

/// bindgen's layout tests: `["Offset of field: module::refcnt"][offset_of!(module, refcnt) - 1208usize]`.
fn offsets(code: &str) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for chunk in code.split("Offset of field: ").skip(1) {
        let Some((path, rest)) = chunk.split_once('"') else { continue };
        let Some((strukt, field)) = path.split_once("::") else { continue };
        let Some(minus) = rest.find(" - ") else { continue };
        let num: String = rest[minus + 3..].chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = num.parse() {
            out.push((strukt.to_string(), field.to_string(), n));
        }
    }
    out
}

/// bindgen appends `_` to Rust keywords (`ref` -> `ref_`).
fn c_name(rust: &str) -> String {
    match rust {
        "ref_" | "type_" | "move_" | "self_" | "use_" | "mod_" | "fn_" | "static_" | "const_" => {
            rust.trim_end_matches('_').to_string()
        }
        s => s.to_string(),
    }
}

/// Spell a bindgen field type the way C does, for matching and reporting.
fn c_type(ty: &Type) -> String {
    match ty {
        Type::Ptr(p) => {
            let inner = c_type(&p.elem);
            let konst = if p.const_token.is_some() { "const " } else { "" };
            if inner.ends_with('*') { format!("{konst}{inner}*") } else { format!("{konst}{inner} *") }
        }
        Type::Array(a) => {
            let len = match &a.len {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => i.base10_digits().to_string(),
                _ => "?".into(),
            };
            format!("{} [{len}]", c_type(&a.elem))
        }
        Type::Path(p) => {
            let last = p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
            match last.as_str() {
                "c_char" | "c_schar" => "char".into(),
                "c_uchar" => "unsigned char".into(),
                "c_short" => "short".into(),
                "c_ushort" => "unsigned short".into(),
                "c_int" => "int".into(),
                "c_uint" => "unsigned int".into(),
                "c_long" => "long".into(),
                "c_ulong" => "unsigned long".into(),
                "c_longlong" => "long long".into(),
                "c_ulonglong" => "unsigned long long".into(),
                "c_void" => "void".into(),
                "bool" => "bool".into(),
                // Named C types keep their name; structs get the tag back.
                "module_ref" | "module_module_ref" => "struct module_ref".into(),
                "module" | "list_head" | "task_struct" | "module_kobject" | "module_use" => {
                    format!("struct {last}")
                }
                other => other.to_string(),
            }
        }
        Type::BareFn(_) => "function pointer".into(),
        Type::Paren(p) => c_type(&p.elem),
        _ => "?".into(),
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

    #[test]
    fn reads_bindgen_output() {
        let code = r#"
            pub type local_t = u64;
            #[repr(C)] pub struct module_ref { pub incs: ::core::ffi::c_ulong, pub decs: ::core::ffi::c_ulong }
            #[repr(C)] pub struct module {
                pub name: [::core::ffi::c_char; 56usize],
                pub refptr: *mut module_ref,
                pub ref_: [module_ref; 64usize],
                pub refcnt: atomic_t,
                pub waiter: *mut task_struct,
            }
            const _: () = {
                ["Offset of field: module::refcnt"][::core::mem::offset_of!(module, refcnt) - 1208usize];
                ["Offset of field: module::ref_"][::core::mem::offset_of!(module, ref_) - 64usize];
            };
        "#;
        let l = from_bindings(code).unwrap();
        let get = |n: &str| l.fields.iter().find(|f| f.name == n).unwrap().clone();
        assert_eq!(get("refptr").ty, "struct module_ref *");
        assert_eq!(get("ref").ty, "struct module_ref [64]");
        assert_eq!(get("ref").offset, Some(64));
        assert_eq!(get("refcnt").ty, "atomic_t");
        assert_eq!(get("refcnt").offset, Some(1208));
        assert_eq!(get("name").ty, "char [56]");
        assert_eq!(l.module_ref.unwrap()[0].ty, "unsigned long");
    }
}
