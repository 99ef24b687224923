//! Signatures: whether the running kernel would reject an unsigned helper,
//! and the file to load (the helper as is, or a copy signed with
//! --sign-key/--sign-cert via sign.rs).

use std::path::{Path, PathBuf};

use super::Options;
use super::helper_file::HelperFile;
use super::obtain::Helper;
use super::report::event;
use super::steps::UnloadEvent;
use crate::error::{Error, Result, Signing};
use crate::kdir::KernelTree;
use crate::output::TempDir;
use crate::sign::{self, SignOpts};
use crate::sysmod;

/// --sign-key/--sign-cert, checked before anything is done.
pub fn keys(args: &Options) -> Result<Option<SignOpts>> {
    Ok(match (&args.sign_key, &args.sign_cert) {
        (Some(key), Some(cert)) => {
            let o = SignOpts { key: key.clone(), cert: cert.clone(), hash: "sha256".into() };
            o.check()?;
            Some(o)
        }
        _ => None,
    })
}

/// Why the kernel would reject an unsigned helper: what it shows at run
/// time, plus CONFIG_MODULE_SIG_FORCE from its tree when there is one.
pub fn signature_reasons(kernel: &sysmod::Kernel, tree: Option<&KernelTree>) -> Vec<String> {
    let mut why = kernel.signature_reasons();
    if let Some(t) = tree
        && t.config.enabled("CONFIG_MODULE_SIG_FORCE")
    {
        why.push("the kernel is built with CONFIG_MODULE_SIG_FORCE=y".into());
    }
    why
}

/// How the helper gets (or keeps) its signature.
#[derive(Debug, PartialEq, Eq)]
pub enum SignPlan {
    /// Already signed (or nothing enforces and no key was given): load as is.
    AsIs,
    /// Sign a copy with --sign-key/--sign-cert.
    Sign,
}

/// `reasons`: why the kernel would reject an unsigned module (empty: it
/// would not). Without a key and with enforcement: exit 28, before loading.
pub fn signing_plan(reasons: &[String], h: &HelperFile, have_keys: bool) -> Result<SignPlan> {
    if h.signed {
        return Ok(SignPlan::AsIs);
    }
    if have_keys {
        return Ok(SignPlan::Sign);
    }
    if reasons.is_empty() {
        return Ok(SignPlan::AsIs);
    }
    Err(Signing::Unsigned { reasons: reasons.to_vec(), helper: h.path.clone() }.into())
}

/// The file to load, and the temporary directory of a signed copy (kept
/// until the helper is out of the kernel again).
pub struct LoadFile {
    pub path: PathBuf,
    _tmp: Option<TempDir>,
}

/// The helper as is, or a copy signed with `keys`: exit 28 before loading
/// when the kernel would reject it. `kdir` is only named in the error when
/// the running kernel's tree (with its scripts/sign-file) is missing.
pub fn file_to_load(helper: &Helper, reasons: &[String], keys: Option<&SignOpts>, kdir: &Path) -> Result<LoadFile> {
    match signing_plan(reasons, &helper.file, keys.is_some())? {
        SignPlan::AsIs => {
            if !helper.file.signed {
                event(UnloadEvent::Unsigned);
            } else {
                event(UnloadEvent::AlreadySigned);
            }
            Ok(LoadFile { path: helper.file.path.clone(), _tmp: None })
        }
        SignPlan::Sign => {
            let opts_s = keys.expect("keys given");
            let tree = helper.tree.as_ref().ok_or_else(|| Signing::NoTree { kdir: kdir.to_path_buf() })?;
            let tmp = TempDir::new("sign")?;
            let copy = tmp.path().join(format!("{}.ko", helper.file.name));
            std::fs::copy(&helper.file.path, &copy).map_err(|e| Error::output(&copy, e))?;
            let info = sign::sign(tree, opts_s, &copy)?;
            event(UnloadEvent::Signed {
                key: opts_s.key.clone(),
                hash: info.hash.clone(),
                signer: info.signer.clone(),
            });
            Ok(LoadFile { path: copy, _tmp: Some(tmp) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;
    use crate::sysmod::tests::FakeRoot;
    use crate::unload::helper_file::check_helper;
    use crate::unload::helper_file::tests::fake_ko;

    #[test]
    fn signing_plans() {
        let unsigned = check_helper(Path::new("k"), &fake_ko("6.1.0 SMP", &["modname"]), "6.1.0").unwrap();
        let enforced = vec!["module.sig_enforce is on".to_string()];
        let e = signing_plan(&enforced, &unsigned, false).unwrap_err();
        assert_eq!(e.exit_code(), code::SIGNING);
        assert_eq!(
            e.to_string(),
            "the running kernel only loads signed modules (module.sig_enforce is on), and the helper k is unsigned, \
             so the kernel would reject it. Pass --sign-key KEY --sign-cert CERT with a key the kernel trusts (its \
             build key, or a Machine Owner Key enrolled with `mokutil --import CERT` and a reboot); or sign the \
             helper yourself (scripts/sign-file sha256 KEY CERT force_rmmod.ko) and pass it with --ko. Nothing was \
             loaded"
        );
        assert_eq!(signing_plan(&enforced, &unsigned, true).unwrap(), SignPlan::Sign);
        assert_eq!(signing_plan(&[], &unsigned, false).unwrap(), SignPlan::AsIs);
        assert_eq!(signing_plan(&[], &unsigned, true).unwrap(), SignPlan::Sign);
        let mut signed = unsigned.clone();
        signed.signed = true;
        assert_eq!(signing_plan(&enforced, &signed, false).unwrap(), SignPlan::AsIs);
    }

    #[test]
    fn signature_reasons_include_the_tree_config() {
        let f = FakeRoot::new();
        f.write("sys/module/module/parameters/sig_enforce", "N\n");
        let k = sysmod::kernel(&f.roots());
        assert!(signature_reasons(&k, None).is_empty());
    }
}
