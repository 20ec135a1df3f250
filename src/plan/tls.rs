//! Resolution of how https servers are trusted: `[target] insecure` / `--insecure`, and `[target] ca_file` /
//! `--ca-file`, a PEM file of CA certificates trusted besides the built-in (Mozilla) roots.
//!
//! The CA file is read and every certificate in it parsed here, before any traffic, so that a missing, empty or
//! broken file is a located error (exit 2) rather than every request failing its handshake. The engine builds
//! its one `rustls::ClientConfig` from the parsed certificates ([`crate::engine::tls`]).

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::Overrides;
use crate::error::Error;
use crate::scenario::Loaded;

/// How https servers are trusted.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// Accept any server certificate (handshake signatures are still checked).
    pub insecure: bool,
    /// Extra trusted CA certificates.
    pub ca: Option<CaFile>,
}

/// The certificates of a CA file, parsed.
#[derive(Debug, Clone)]
pub struct CaFile {
    /// As given (for messages): relative to the working directory or the scenario's directory.
    pub path: PathBuf,
    pub certs: Vec<CertificateDer<'static>>,
}

pub(super) fn resolve_tls(loaded: &Loaded, overrides: &Overrides) -> Result<Tls, Error> {
    let target = loaded.target.as_ref();
    let insecure = overrides.insecure
        || target
            .and_then(|t| t.value.insecure.as_ref())
            .is_some_and(|v| *v.get_ref());
    let ca = match (
        &overrides.ca_file,
        target.and_then(|t| t.value.ca_file.as_ref().map(|v| (t.file, v))),
    ) {
        (Some(path), _) => Some(CaFile {
            certs: read_ca_file(path)
                .map_err(|m| Error::Usage(format!("--ca-file {}: {m}", path.display())))?,
            path: path.clone(),
        }),
        (None, Some((file, v))) => {
            let base = loaded.files[file].path.parent().unwrap_or(Path::new(""));
            let path = base.join(v.get_ref());
            let certs = read_ca_file(&path).map_err(|m| -> Error {
                loaded
                    .error(file, v.span(), format!("`ca_file`: {m}"))
                    .with_help(
                        "ca_file is a PEM file of CA certificates (-----BEGIN CERTIFICATE-----), relative to the \
                         scenario file that names it",
                    )
                    .into()
            })?;
            Some(CaFile { path, certs })
        }
        (None, None) => None,
    };
    Ok(Tls { insecure, ca })
}

/// The certificates of the PEM file at `path`; each must parse as an X.509 trust anchor.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = crate::files::read_bytes(path, crate::files::PEM)
        .map_err(|e| format!("cannot read the CA file `{}`: {e}", path.display()))?;
    parse_ca_pem(&bytes).map_err(|m| format!("`{}` {m}", path.display()))
}

/// The certificates of a PEM document; the error completes a sentence that starts with the file's name.
fn parse_ca_pem(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not a valid PEM file: {e}"))?;
    if certs.is_empty() {
        // A DER certificate is an ASN.1 SEQUENCE: 0x30 then a length.
        let hint = if bytes.first() == Some(&0x30) {
            "; it looks like a binary (DER) certificate: convert it with `openssl x509 -inform der -in FILE -out ca.pem`"
        } else {
            ""
        };
        return Err(format!(
            "holds no PEM certificate (a -----BEGIN CERTIFICATE----- block){hint}"
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| {
            let why = match e {
                rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
                other => other.to_string(),
            };
            format!(
                "has a certificate that cannot be used as a CA: certificate {} of {} is not a valid X.509 \
                 certificate ({why})",
                i + 1,
                certs.len()
            )
        })?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn reads_every_certificate_and_skips_other_sections() {
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let text = format!("# comment\n{}\n{key}{}", ca_pem(), ca_pem());
        assert_eq!(parse_ca_pem(text.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn empty_binary_truncated_and_garbage_files_are_errors() {
        let e = parse_ca_pem(b"").unwrap_err();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let e = parse_ca_pem(&[0x30, 0x82, 0x01, 0x0a]).unwrap_err();
        assert!(e.contains("DER"), "{e}");
        let pem = ca_pem();
        let e = parse_ca_pem(&pem.as_bytes()[..pem.len() / 2]).unwrap_err();
        assert!(e.contains("is not a valid PEM file"), "{e}");
        let e = parse_ca_pem(b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(e.contains("cannot be used as a CA"), "{e}");
        let e = read_ca_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(
            e.contains("cannot read the CA file `/nonexistent/ca.pem`"),
            "{e}"
        );
    }
}
