//! Resolution of how https servers are trusted: `[target] insecure` / `--insecure`, and `[target] ca_file` /
//! `--ca-file`, a PEM file of CA certificates trusted besides the built-in (Mozilla) roots; and of the client's
//! own identity for servers that ask for one (mutual TLS): `[target] client_cert` / `--client-cert` and
//! `[target] client_key` / `--client-key`.
//!
//! The CA file is read and every certificate in it parsed here, before any traffic, so that a missing, empty or
//! broken file is a located error (exit 2) rather than every request failing its handshake. So are the client
//! certificate and key: both read, the key loaded by the crypto provider and checked against the certificate's
//! public key (rustls's `CertifiedKey::from_der`), so a key that does not match is an error at load, not a
//! handshake the server refuses. Key bytes never appear in a message. The engine builds its one
//! `rustls::ClientConfig` from what is parsed here ([`crate::engine::tls`]).

use std::path::{Path, PathBuf};

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    /// The certificate and key shown to servers that ask for one (mutual TLS), issue 17 item 8.
    pub client: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, parsed and checked to match.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// The certificate file as given (for messages).
    pub cert_path: PathBuf,
    /// The key, loaded by the crypto provider (its `Debug` shows the algorithm, never the key).
    pub key: Arc<rustls::sign::CertifiedKey>,
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
    let client = resolve_client(loaded, overrides)?;
    Ok(Tls {
        insecure,
        ca,
        client,
    })
}

/// Where one of `client_cert` / `client_key` was given: on the command line or in the scenario.
enum Given<'a> {
    Flag(&'static str, &'a Path),
    Key(&'static str, usize, &'a toml::Spanned<String>),
}

impl Given<'_> {
    fn path(&self, loaded: &Loaded) -> PathBuf {
        match self {
            Given::Flag(_, p) => p.to_path_buf(),
            Given::Key(_, file, v) => loaded.files[*file]
                .path
                .parent()
                .unwrap_or(Path::new(""))
                .join(v.get_ref()),
        }
    }

    fn error(&self, loaded: &Loaded, m: String) -> Error {
        match self {
            Given::Flag(flag, p) => Error::Usage(format!("{flag} {}: {m}", p.display())),
            Given::Key(key, file, v) => loaded
                .error(*file, v.span(), format!("`{key}`: {m}"))
                .with_help(
                    "client_cert is a PEM file of the client's certificate (and its chain), client_key a PEM \
                     file of its private key (unencrypted PKCS#8, PKCS#1 or SEC1), both relative to the scenario \
                     file that names them",
                )
                .into(),
        }
    }
}

fn given<'a>(
    flag: (&'static str, Option<&'a PathBuf>),
    key: (&'static str, Option<(usize, &'a toml::Spanned<String>)>),
) -> Option<Given<'a>> {
    match (flag, key) {
        ((f, Some(p)), _) => Some(Given::Flag(f, p)),
        (_, (k, Some((file, v)))) => Some(Given::Key(k, file, v)),
        _ => None,
    }
}

/// The client's certificate and key, when both are given; each flag replaces its scenario key.
fn resolve_client(loaded: &Loaded, overrides: &Overrides) -> Result<Option<ClientIdentity>, Error> {
    let target = loaded.target.as_ref();
    let in_target = |f: fn(&crate::scenario::RawTarget) -> Option<&toml::Spanned<String>>| {
        target.and_then(|t| f(&t.value).map(|v| (t.file, v)))
    };
    let cert = given(
        ("--client-cert", overrides.client_cert.as_ref()),
        ("client_cert", in_target(|t| t.client_cert.as_ref())),
    );
    let key = given(
        ("--client-key", overrides.client_key.as_ref()),
        ("client_key", in_target(|t| t.client_key.as_ref())),
    );
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(cert), None) => {
            return Err(cert.error(
                loaded,
                "a client certificate needs its private key: give client_key (or --client-key) too"
                    .into(),
            ));
        }
        (None, Some(key)) => {
            return Err(key.error(
                loaded,
                "a private key needs its certificate: give client_cert (or --client-cert) too"
                    .into(),
            ));
        }
    };
    let cert_path = cert.path(loaded);
    let certs = read_cert_file(&cert_path).map_err(|m| cert.error(loaded, m))?;
    let key_path = key.path(loaded);
    let der = read_key_file(&key_path).map_err(|m| key.error(loaded, m))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = rustls::sign::CertifiedKey::from_der(certs, der, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => key.error(
            loaded,
            format!(
                "the key in `{}` does not match the certificate in `{}` (its public key is another); give \
                 the key the certificate was issued for",
                key_path.display(),
                cert_path.display()
            ),
        ),
        rustls::Error::InvalidCertificate(c) => cert.error(
            loaded,
            format!(
                "`{}` holds a certificate that is not a valid X.509 certificate ({c:?})",
                cert_path.display()
            ),
        ),
        // The provider's own message names the key types it tried, never the key.
        other => key.error(
            loaded,
            format!(
                "`{}` holds a private key that cannot be used ({other}); RSA, ECDSA (P-256, P-384) and \
                 Ed25519 keys are supported",
                key_path.display()
            ),
        ),
    })?;
    Ok(Some(ClientIdentity {
        cert_path,
        key: Arc::new(certified),
    }))
}

/// The certificate chain in the PEM file at `path`, the client's own certificate first.
fn read_cert_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = crate::files::read_bytes(path, crate::files::PEM)
        .map_err(|e| format!("cannot read the certificate file `{}`: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "`{}` is not a valid PEM file: {}",
                path.display(),
                pem_problem(&e)
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "`{}` holds no PEM certificate (a -----BEGIN CERTIFICATE----- block){}",
            path.display(),
            der_hint(&bytes, "x509")
        ));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path` (the first one).
fn read_key_file(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = crate::files::read_bytes(path, crate::files::PEM)
        .map_err(|e| format!("cannot read the key file `{}`: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            let encrypted = bytes
                .windows(b"ENCRYPTED PRIVATE KEY".len())
                .any(|w| w == b"ENCRYPTED PRIVATE KEY");
            if encrypted {
                format!(
                    "`{}` holds an encrypted private key, which is not supported: decrypt it with \
                     `openssl pkey -in KEY -out client.key`",
                    path.display()
                )
            } else {
                format!(
                    "`{}` holds no PEM private key (a -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC \
                     PRIVATE KEY block){}",
                    path.display(),
                    der_hint(&bytes, "pkey")
                )
            }
        }
        e => format!("`{}` is not a valid PEM file: {}", path.display(), pem_problem(&e)),
    })
}

/// For a file that holds no PEM block but starts like DER (an ASN.1 SEQUENCE: 0x30 then a length), how to
/// convert it.
fn der_hint(bytes: &[u8], tool: &str) -> String {
    if bytes.first() == Some(&0x30) {
        format!(
            "; it looks like a binary (DER) file: convert it with `openssl {tool} -inform der -in FILE -out FILE.pem`"
        )
    } else {
        String::new()
    }
}

/// The certificates of the PEM file at `path`; each must parse as an X.509 trust anchor.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = crate::files::read_bytes(path, crate::files::PEM)
        .map_err(|e| format!("cannot read the CA file `{}`: {e}", path.display()))?;
    parse_ca_pem(&bytes).map_err(|m| format!("`{}` {m}", path.display()))
}

/// What is wrong with a PEM document, never quoting it: the PEM reader's own messages print the offending
/// line's bytes, and a file given as `ca_file` by mistake may be a key or a password file.
fn pem_problem(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "a section has no -----END ...----- line",
        E::IllegalSectionStart { .. } => "a -----BEGIN ...----- line is malformed",
        E::Base64Decode(_) => "the content of a section is not valid base64",
        E::SectionTooLarge => "a section is over 256 MB",
        _ => "it cannot be read as PEM",
    }
}

/// The certificates of a PEM document; the error completes a sentence that starts with the file's name.
fn parse_ca_pem(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("is not a valid PEM file: {}", pem_problem(&e)))?;
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

    /// A file that is not what `ca_file` should be is never quoted (the PEM reader's own messages print the
    /// offending line's bytes).
    #[test]
    fn pem_errors_quote_nothing_of_the_file() {
        for text in [
            "-----BEGIN hunter2 secret\nabc\n",
            "-----BEGIN CERTIFICATE-----\nhunter2!\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\naHVudGVyMg==\n",
            "password: hunter2\n",
        ] {
            let e = parse_ca_pem(text.as_bytes()).unwrap_err();
            assert!(
                !e.contains("hunter2") && !e.contains("[45,") && !e.contains("symbol"),
                "{text:?}: {e}"
            );
        }
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
