//! TLS for the device ↔ hub link (rustls, ring provider).
//!
//! The device trusts exactly one thing: the CA certificate in its config (never the system
//! store), optionally narrowed to one server key by an SPKI pin. The hub serves a certificate
//! chain from files; `hub init` makes a private CA and a server certificate with rcgen.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("certificate verifier: {0}")]
    Verifier(String),
}

/// The one crypto provider of both ends: ring. It seeds from `getrandom(2)`; aws-lc-rs
/// (rustls' default) first runs a CPU-jitter entropy source for about 50 ms on this class
/// of machine, which every `portico sync` process paid inside its first handshake.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses an SPKI pin: `sha256/<base64>` or 64 hex digits.
pub fn parse_pin(s: &str) -> Result<[u8; 32], String> {
    let s = s.trim();
    let bytes = if let Some(b64) = s.strip_prefix("sha256/") {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("{s:?}: bad base64 after sha256/: {e}"))?
    } else if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect()
    } else {
        return Err(format!(
            "{s:?} is not an SPKI pin: expected \"sha256/<base64>\" or 64 hex digits"
        ));
    };
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{s:?}: a SHA-256 pin has 32 bytes, this has {}", b.len()))
}

/// The `sha256/<base64>` pin of a DER certificate's SubjectPublicKeyInfo.
pub fn spki_pin_of(cert_der: &[u8]) -> Result<[u8; 32], String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("cannot parse certificate: {e}"))?;
    Ok(Sha256::digest(cert.tbs_certificate.subject_pki.raw).into())
}

pub fn format_pin(pin: &[u8; 32]) -> String {
    format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(pin)
    )
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.display().to_string(),
            message: format!("not a PEM certificate file: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.display().to_string(),
            message: "contains no certificate".into(),
        });
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| TlsError::Pem {
        path: path.display().to_string(),
        message: format!("no private key: {e}"),
    })
}

/// Client config trusting only the certificates in `ca_pem`, and, with a pin, only a server
/// whose key hashes to it.
pub fn client_config(
    ca_pem: &Path,
    pin: Option<[u8; 32]>,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca_pem)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            path: ca_pem.display().to_string(),
            message: format!("unusable CA certificate: {e}"),
        })?;
    }
    let provider = provider();
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let verifier = Arc::new(PinnedVerifier { inner: webpki, pin });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Full WebPKI verification against the configured CA, then the SPKI pin when there is one.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pin: Option<[u8; 32]>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if let Some(pin) = self.pin {
            let actual = spki_pin_of(end_entity).map_err(rustls::Error::General)?;
            if actual != pin {
                return Err(rustls::Error::General(format!(
                    "hub certificate key {} does not match the configured pin {}",
                    format_pin(&actual),
                    format_pin(&pin)
                )));
            }
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Server config from a PEM chain and key.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let certs = load_certs(cert_pem)?;
    let key = load_key(key_pem)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A private CA and a server certificate it signed, in PEM.
#[derive(Debug, Clone)]
pub struct GeneratedPki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

/// Makes a CA named `ca_name` and a server certificate for `hosts` (DNS names or IPs).
pub fn generate_pki(ca_name: &str, hosts: &[String]) -> Result<GeneratedPki, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "Portico");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;

    let mut params = CertificateParams::new(hosts.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Portico hub");
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;
    Ok(GeneratedPki {
        ca_cert_pem: ca.pem(),
        server_cert_pem: cert.pem(),
        server_key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_in_both_notations() {
        let hex = "00".repeat(31) + "ff";
        let mut want = [0u8; 32];
        want[31] = 0xff;
        assert_eq!(parse_pin(&hex).unwrap(), want);
        assert_eq!(parse_pin(&format_pin(&want)).unwrap(), want);
        for bad in ["", "sha256/!!", "sha256/AAAA", "abcd", &"zz".repeat(32)] {
            assert!(parse_pin(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn generated_pki_loads_and_pins_the_server_key() {
        let dir = tempfile::tempdir().unwrap();
        let pki = generate_pki("Test CA", &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let (ca, cert, key) = (
            dir.path().join("ca.pem"),
            dir.path().join("cert.pem"),
            dir.path().join("key.pem"),
        );
        std::fs::write(&ca, &pki.ca_cert_pem).unwrap();
        std::fs::write(&cert, &pki.server_cert_pem).unwrap();
        std::fs::write(&key, &pki.server_key_pem).unwrap();
        server_config(&cert, &key).unwrap();
        client_config(&ca, None).unwrap();
        let der = &load_certs(&cert).unwrap()[0];
        let pin = spki_pin_of(der).unwrap();
        let ca_pin = spki_pin_of(&load_certs(&ca).unwrap()[0]).unwrap();
        assert_ne!(pin, ca_pin);
    }

    #[test]
    fn a_file_without_certificates_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "hello").unwrap();
        let err = client_config(&p, None).unwrap_err().to_string();
        assert!(err.contains("no certificate"), "{err}");
    }
}
