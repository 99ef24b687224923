//! Module signing, as DKMS does it: the tree's own `scripts/sign-file
//! HASH KEY CERT KO` (run inside the chroot for chroot trees, whose
//! sign-file is linked against the chroot's libcrypto), then proof that the
//! signature is there:
//! - the module ends with `struct module_signature` + the
//!   `~Module signature appended~\n` marker, with a PKCS#7 id type (4.3+)
//!   or the X.509 id type of 3.7 to 4.2 (RHEL/CentOS 7), and a non-empty
//!   signature;
//! - if `modinfo` is installed, it reports the signer fields (`signer`,
//!   `sig_key`, `sig_hashalgo`), and the signer is the certificate's CN when
//!   `openssl` can tell us that CN.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{self, BadArgument, Result, Signing};
use crate::kbuild::{self, Scratch};
use crate::kdir::KernelTree;

pub const MARKER: &[u8] = b"~Module signature appended~\n";
/// sizeof(struct module_signature)
const SIG_INFO_LEN: usize = 12;
/// PKEY_ID_PKCS7 (4.3 and later)
const PKEY_ID_PKCS7: u8 = 2;
/// PKEY_ID_X509: signer name + key id + raw signature (3.7 to 4.2, RHEL/CentOS 7)
const PKEY_ID_X509: u8 = 1;

#[derive(Debug, Clone)]
pub struct SignOpts {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub hash: String,
}

impl SignOpts {
    /// Check the files before anything is built.
    pub fn check(&self) -> Result<()> {
        for (what, p) in [("--sign-key", &self.key), ("--sign-cert", &self.cert)] {
            if !p.is_file() {
                return Err(BadArgument::NoSuchFile { flag: what, path: p.clone() }.into());
            }
        }
        if !self.hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || self.hash.is_empty() {
            return Err(BadArgument::SignHash { hash: self.hash.clone() }.into());
        }
        Ok(())
    }
}

/// What the signature check found; recorded in manifest.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SigInfo {
    pub hash: String,
    pub signature_bytes: u32,
    pub signer: Option<String>,
    pub sig_key: Option<String>,
    pub sig_hashalgo: Option<String>,
    /// "marker", "modinfo", "openssl-cn": the checks that were made.
    pub verified_by: Vec<String>,
}

/// Sign `ko` in place with the tree's sign-file, then verify it.
pub fn sign(tree: &KernelTree, opts: &SignOpts, ko: &Path) -> Result<SigInfo> {
    opts.check()?;
    let sign_file = tree.build.join("scripts/sign-file");
    if !sign_file.is_file() {
        return Err(Signing::NoSignFile { path: sign_file }.into());
    }
    let out = match &tree.chroot {
        None => Command::new(&sign_file).arg(&opts.hash).arg(&opts.key).arg(&opts.cert).arg(ko).output(),
        Some(root) => return sign_in_chroot(root, tree, opts, ko),
    }
    .map_err(|e| Signing::CannotRun { program: sign_file.display().to_string(), err: error::io(e) })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Signing::Failed { command: sign_file.display().to_string(), stderr }.into());
    }
    verify(ko, &opts.hash, Some(&opts.cert))
}

/// Copy key, cert and module into a private scratch directory in the
/// chroot, sign there, copy the module back; the copies (a private key) are
/// removed with the scratch directory.
fn sign_in_chroot(root: &Path, tree: &KernelTree, opts: &SignOpts, ko: &Path) -> Result<SigInfo> {
    let sign_file = kbuild::kdir_for_make(tree).map_err(|e| Signing::Chroot(Box::new(e)))?.join("scripts/sign-file");
    let scratch = Scratch::new(tree, &std::env::temp_dir(), "sign")
        .map_err(|e| Signing::Scratch { root: root.to_path_buf(), err: Box::new(e) })?;
    let copy = |from: &Path, name: &str| -> Result<()> {
        std::fs::copy(from, scratch.host.join(name))
            .map(|_| ())
            .map_err(|e| Signing::Copy { from: from.to_path_buf(), err: error::io(e) }.into())
    };
    copy(&opts.key, "key")?;
    copy(&opts.cert, "cert")?;
    copy(ko, "m.ko")?;
    let out = Command::new("chroot")
        .arg(root)
        .arg(&sign_file)
        .arg(&opts.hash)
        .arg(scratch.make.join("key"))
        .arg(scratch.make.join("cert"))
        .arg(scratch.make.join("m.ko"))
        .output()
        .map_err(|e| Signing::CannotRun { program: "chroot".into(), err: error::io(e) })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let command = format!("chroot {} {}", root.display(), sign_file.display());
        return Err(Signing::Failed { command, stderr }.into());
    }
    std::fs::copy(scratch.host.join("m.ko"), ko).map_err(|e| Signing::CopyBack { err: error::io(e) })?;
    verify(ko, &opts.hash, Some(&opts.cert))
}

/// The appended signature: (id_type, signature length), if the marker is there.
pub fn appended_signature(bytes: &[u8]) -> Option<(u8, u32)> {
    let body = bytes.strip_suffix(MARKER)?;
    if body.len() < SIG_INFO_LEN {
        return None;
    }
    let info = &body[body.len() - SIG_INFO_LEN..];
    let id_type = info[2];
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]);
    ((sig_len as usize) + SIG_INFO_LEN <= body.len()).then_some((id_type, sig_len))
}

/// Check that `ko` carries a signature (see the module doc).
pub fn verify(ko: &Path, hash: &str, cert: Option<&Path>) -> Result<SigInfo> {
    let bytes = std::fs::read(ko).map_err(|e| Signing::Read { ko: ko.to_path_buf(), err: error::io(e) })?;
    let (id_type, sig_len) = appended_signature(&bytes).ok_or_else(|| Signing::NoSignature { ko: ko.to_path_buf() })?;
    if !matches!(id_type, PKEY_ID_PKCS7 | PKEY_ID_X509) || sig_len == 0 {
        return Err(Signing::Malformed { ko: ko.to_path_buf(), id_type, bytes: sig_len }.into());
    }
    let mut info = SigInfo {
        hash: hash.to_string(),
        signature_bytes: sig_len,
        signer: None,
        sig_key: None,
        sig_hashalgo: None,
        verified_by: vec!["marker".into()],
    };
    if let Ok(out) = Command::new("modinfo").arg(ko).env("LC_ALL", "C").output()
        && out.status.success()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_string()).filter(|v| !v.is_empty())
            })
        };
        info.signer = field("signer");
        info.sig_key = field("sig_key");
        info.sig_hashalgo = field("sig_hashalgo");
        if info.signer.is_none() {
            return Err(Signing::NoSigner { ko: ko.to_path_buf() }.into());
        }
        if let Some(algo) = &info.sig_hashalgo
            && !algo.eq_ignore_ascii_case(hash)
        {
            return Err(Signing::OtherHash { algo: algo.clone(), hash: hash.to_string() }.into());
        }
        info.verified_by.push("modinfo".into());
    }
    if let (Some(cert), Some(signer)) = (cert, info.signer.as_deref())
        && let Some(cn) = cert_cn(cert)
    {
        // 3.7 to 4.2's sign-file names the signer "O: CN" unless CN starts with O.
        let x509_name = id_type == PKEY_ID_X509 && signer.ends_with(&format!(": {cn}"));
        if cn != signer && !x509_name {
            return Err(Signing::OtherSigner { signer: signer.to_string(), cn }.into());
        }
        info.verified_by.push("openssl-cn".into());
    }
    Ok(info)
}

/// The certificate's subject CN (PEM or DER), via the openssl command.
fn cert_cn(cert: &Path) -> Option<String> {
    for form in ["PEM", "DER"] {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "multiline", "-inform", form, "-in"])
            .arg(cert)
            .output()
            .ok()?;
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            return text.lines().find_map(|l| {
                l.trim().strip_prefix("commonName").map(|v| v.trim_start().trim_start_matches('=').trim().to_string())
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_appended_signature() {
        let mut m = b"\x7fELF....module body....".to_vec();
        let sig = vec![0x30u8; 300];
        m.extend(&sig);
        m.extend([0, 0, PKEY_ID_PKCS7, 0, 0, 0, 0, 0]);
        m.extend((sig.len() as u32).to_be_bytes());
        m.extend(MARKER);
        assert_eq!(appended_signature(&m), Some((PKEY_ID_PKCS7, 300)));
        assert_eq!(appended_signature(b"\x7fELF unsigned"), None);
        // A length beyond the file is not a signature.
        let mut bad = b"xx".to_vec();
        bad.extend([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        bad.extend(MARKER);
        assert_eq!(appended_signature(&bad), None);
    }

    /// Kernels 3.7 to 4.2 (RHEL/CentOS 7 among them) append their own
    /// format: signer name, key id and a raw RSA signature, id type
    /// PKEY_ID_X509 (1). Their Perl sign-file writes it; verify must take it.
    #[test]
    fn accepts_the_x509_signature_of_kernels_before_4_3() {
        let dir = tempfile::tempdir().unwrap();
        let ko = dir.path().join("m.ko");
        let mut m = b"\x7fELF....module body....".to_vec();
        let (signer, key_id, sig) = (b"Build time autogenerated kernel key".to_vec(), vec![7u8; 20], vec![1u8; 258]);
        m.extend(&signer);
        m.extend(&key_id);
        m.extend(&sig);
        // algo RSA (1), hash SHA256 (4), id type X509 (1), signer_len, key_id_len, pad
        m.extend([1, 4, 1, signer.len() as u8, key_id.len() as u8, 0, 0, 0]);
        m.extend((sig.len() as u32).to_be_bytes());
        m.extend(MARKER);
        std::fs::write(&ko, &m).unwrap();
        let info = verify(&ko, "sha256", None).unwrap();
        assert_eq!(info.signature_bytes, 258);
    }
}
