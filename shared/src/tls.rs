//! The one TLS stack of every function: rustls 0.23 with the ring provider over hyper 1,
//! for the AWS SDK (DynamoDB, Secrets Manager) and the Graph client alike, trusting the
//! system's root certificates.
//!
//! Root certificates: the SDK's client loads the system's once per process when a client
//! is built (at start-up, as the SDK does on purpose: the first request needs them), the
//! Graph client's verifier on its first handshake with Meta (a function that never calls
//! Graph never loads them for it). Both read them through `rustls-native-certs`, which
//! reads the system's bundle file *and* every file of its certificate directory (about
//! 300 files, most of init's time); [`prefer_system_bundle`] makes it read the bundle
//! alone.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The system's root certificates as one PEM bundle, where the distributions Lambda and
/// developers run keep it (Amazon Linux and Fedora, Debian and Ubuntu, Alpine and others).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Call first in `main`, before any thread starts: when neither `SSL_CERT_FILE` nor
/// `SSL_CERT_DIR` is set, set `SSL_CERT_FILE` to the system's bundle, so the root
/// certificates are read from that one file (the same certificates the directory holds)
/// instead of it and each of the directory's files. The bundle found, if any.
pub fn prefer_system_bundle() -> Option<&'static str> {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return None;
    }
    let bundle = SYSTEM_BUNDLES
        .iter()
        .copied()
        .find(|path| Path::new(path).is_file())?;
    std::env::set_var("SSL_CERT_FILE", bundle);
    Some(bundle)
}

/// The crypto provider of every TLS connection.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The AWS SDK's HTTP client: hyper 1 with rustls on ring (the SDK's own builder); for
/// `aws_config::ConfigLoader::http_client` and the service configurations built by hand.
pub fn sdk_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The Graph client's TLS configuration (reqwest's `tls_backend_preconfigured`): ring,
/// TLS 1.2 and 1.3, the system's roots loaded on the first handshake.
pub fn graph_client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = crypto_provider();
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SystemRootsVerifier::new(provider)))
            .with_no_client_auth(),
    )
}

/// rustls' WebPKI verifier over the system's root certificates, built on first use.
#[derive(Debug)]
struct SystemRootsVerifier {
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl SystemRootsVerifier {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        SystemRootsVerifier {
            provider,
            inner: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.inner
            .get_or_init(|| {
                let loaded = rustls_native_certs::load_native_certs();
                for error in &loaded.errors {
                    tracing::warn!(%error, "a system root certificate could not be loaded");
                }
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(loaded.certs);
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map_err(|err| format!("no usable system root certificates: {err}"))
            })
            .as_ref()
            .map_err(|message| rustls::Error::General(message.clone()))
    }
}

impl ServerCertVerifier for SystemRootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_configuration_uses_the_one_provider_and_loads_roots_on_the_first_handshake() {
        let config = graph_client_config().unwrap();
        assert!(Arc::ptr_eq(config.crypto_provider(), &crypto_provider()));
        let verifier = SystemRootsVerifier::new(crypto_provider());
        assert!(verifier.inner.get().is_none());
        assert!(!verifier.supported_verify_schemes().is_empty());
        // The first handshake loads them (a certificate that is not one is refused).
        let name = ServerName::try_from("graph.facebook.com").unwrap();
        let refused = verifier.verify_server_cert(
            &CertificateDer::from(vec![0u8; 8]),
            &[],
            &name,
            &[],
            UnixTime::now(),
        );
        assert!(refused.is_err());
        assert!(verifier.inner.get().is_some());
    }
}
