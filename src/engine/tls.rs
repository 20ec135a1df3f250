//! The TLS side of the client: the one `rustls::ClientConfig` a run shares, built from the plan's
//! [`crate::plan::Tls`], and the wording of handshake failures.
//!
//! Trust is the built-in Mozilla roots (`webpki-roots`) plus the certificates of a `ca_file`; or, with
//! `insecure`, any certificate at all ([`AcceptAnyCert`]). Even then the handshake signatures are verified with
//! the crypto provider's algorithms, so the connection is still to whoever holds the key of the certificate it
//! was shown: what is skipped is only the question of whether that certificate deserves trust.
//!
//! A failed handshake is a request failure, recorded once per distinct message: the messages say what to do
//! about a certificate that is not trusted (`--ca-file`, `--insecure`), since that is the usual case with
//! self-signed test servers.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::plan::Tls;

/// The client configuration for `tls`.
pub fn client_config(tls: &Tls) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b,
        // The ring provider supports the default versions; this is unreachable in practice.
        Err(_) => unreachable!("ring supports TLS 1.2 and 1.3"),
    };
    let builder = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert { algorithms }))
    } else {
        builder.with_root_certificates(roots(tls))
    };
    match &tls.client {
        // Checked when the plan was resolved: the key loads and matches the certificate.
        Some(client) => builder.with_client_cert_resolver(Arc::new(
            rustls::sign::SingleCertAndKey::from(client.key.clone()),
        )),
        None => builder.with_no_client_auth(),
    }
}

/// The built-in roots and the CA file's certificates.
fn roots(tls: &Tls) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca) = &tls.ca {
        // Each was parsed when the plan was resolved.
        let (added, _) = roots.add_parsable_certificates(ca.certs.iter().cloned());
        debug_assert_eq!(added, ca.certs.len());
    }
    roots
}

/// Accepts any server certificate (`--insecure`), but checks the handshake signatures like the default
/// verifier does, with the provider's algorithms.
#[derive(Debug)]
pub struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyCert {
    #[cfg(test)]
    pub fn new(provider: &rustls::crypto::CryptoProvider) -> Self {
        AcceptAnyCert {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

const TRUST_HINT: &str =
    "give its CA with --ca-file or [target] ca_file, or accept any certificate with --insecure";

const PLAIN_HTTP_HINT: &str = "is the server speaking https on this port (and not plain http)?";

/// What a failed handshake shows in the failures table: what went wrong and, for a certificate that is not
/// trusted, how to make it so. Never includes a URL.
pub fn describe_handshake_error(e: &io::Error) -> String {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return format!(
                "TLS handshake failed: the server closed the connection; {PLAIN_HTTP_HINT}"
            );
        }
        let (_, msg) = super::io_error::describe_io(e, crate::metrics::FailureKind::Connect);
        return format!("TLS handshake failed: {msg}");
    };
    match tls {
        rustls::Error::InvalidCertificate(c) => describe_certificate_error(c),
        rustls::Error::InvalidMessage(_) => {
            format!("TLS handshake failed: {tls}; {PLAIN_HTTP_HINT}")
        }
        rustls::Error::AlertReceived(alert) => describe_alert(*alert),
        other => format!("TLS handshake failed: {other}"),
    }
}

/// An alert the server sent: those about the client's certificate say so (mutual TLS; with TLS 1.3 they arrive
/// after the client's side of the handshake, on the first read).
fn describe_alert(alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription::*;
    match alert {
        CertificateRequired => format!(
            "TLS: the server requires a client certificate (alert {alert:?}); {CLIENT_CERT_HINT}"
        ),
        BadCertificate
        | UnknownCA
        | CertificateUnknown
        | CertificateExpired
        | CertificateRevoked
        | UnsupportedCertificate
        | AccessDenied => format!(
            "TLS: the server rejected the client certificate (alert {alert:?}); check that it is issued by a CA \
             the server trusts and still valid"
        ),
        DecryptError => format!(
            "TLS: the server could not verify a signature (alert {alert:?}); if it asks for a client \
             certificate, check that it trusts the CA that issued client_cert"
        ),
        other => format!("TLS handshake failed: the server sent alert {other:?}"),
    }
}

const CLIENT_CERT_HINT: &str =
    "give one with [target] client_cert and client_key (or --client-cert and --client-key)";

/// Whether an I/O error of an established connection is TLS's own (an alert, a bad record), to be named as
/// a TLS failure rather than as a connection failure.
pub fn is_tls_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some())
}

fn utc(t: UnixTime) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs()),
    )
    .to_string()
}

fn describe_certificate_error(c: &CertificateError) -> String {
    use CertificateError::*;
    match c {
        UnknownIssuer => format!(
            "TLS: the server's certificate is not trusted (unknown issuer: self-signed or from a private CA); \
             {TRUST_HINT}"
        ),
        BadSignature => {
            "TLS: a signature does not verify: the server's certificate is not signed by its \
                         issuer, or the server does not hold the certificate's private key"
                .to_string()
        }
        NotValidForName | NotValidForNameContext { .. } => format!(
            "TLS: the server's certificate is not valid for this host name ({c:?}); use a host name the \
             certificate names, or --insecure"
        ),
        // The message names the certificate's date, never the current time: one failure row per cause, not per
        // second.
        Expired => {
            "TLS: the server's certificate has expired; renew it, or use --insecure".to_string()
        }
        ExpiredContext { not_after, .. } => format!(
            "TLS: the server's certificate has expired (valid until {}); renew it, or use --insecure",
            utc(*not_after)
        ),
        NotValidYet => {
            "TLS: the server's certificate is not valid yet; check the clocks, or use --insecure"
                .to_string()
        }
        NotValidYetContext { not_before, .. } => format!(
            "TLS: the server's certificate is not valid yet (valid from {}); check the clocks, or use --insecure",
            utc(*not_before)
        ),
        other => format!("TLS: the server's certificate was rejected ({other:?}); {TRUST_HINT}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn an_untrusted_certificate_says_how_to_trust_it() {
        let m = describe_handshake_error(&wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )));
        assert!(m.contains("not trusted"), "{m}");
        assert!(m.contains("--ca-file") && m.contains("--insecure"), "{m}");
        let m = describe_handshake_error(&wrapped(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        )));
        assert!(m.contains("not valid for this host name"), "{m}");
        let m = describe_handshake_error(&io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(m, "TLS handshake failed: connection reset by peer");
        let m = describe_handshake_error(&io::Error::from(io::ErrorKind::UnexpectedEof));
        assert!(m.contains("not plain http"), "{m}");
    }

    #[test]
    fn the_insecure_verifier_offers_the_providers_schemes() {
        let provider = rustls::crypto::ring::default_provider();
        let v = AcceptAnyCert::new(&provider);
        assert_eq!(
            v.supported_verify_schemes(),
            provider
                .signature_verification_algorithms
                .supported_schemes()
        );
        assert!(!v.supported_verify_schemes().is_empty());
    }

    /// Serves one handshake with `cert` but signing with `key`.
    #[derive(Debug)]
    struct Fixed(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Fixed {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    async fn handshake(
        cert: CertificateDer<'static>,
        key: &rcgen::KeyPair,
    ) -> Result<(), io::Error> {
        let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert],
            signer,
        )))));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let insecure = Tls {
            insecure: true,
            ca: None,
            client: None,
        };
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let result = tokio_rustls::TlsConnector::from(Arc::new(client_config(&insecure)))
            .connect(name, tcp)
            .await
            .map(drop);
        let _ = server.await;
        result
    }

    #[tokio::test]
    async fn insecure_still_checks_that_the_server_holds_the_certificates_key() {
        let key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        // Self-signed and for any name: accepted.
        handshake(cert.clone(), &key).await.unwrap();
        // The same certificate, but the handshake signed with another key: refused.
        let e = handshake(cert, &other).await.unwrap_err();
        let m = describe_handshake_error(&e);
        assert!(m.contains("signature does not verify"), "{m}");
    }
}
