//! A TLS terminator on loopback: it accepts TLS with a fresh self-signed certificate for
//! `localhost` and passes the plain bytes to an upstream TCP address (DynamoDB Local), so a client
//! is measured or tested over TLS the way it talks to AWS. The certificate is written as PEM for
//! the client to trust the way its TLS stack documents it (`SSL_CERT_FILE` for the AWS SDK's
//! rustls, which reads the platform's roots through `rustls-native-certs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

pub struct TlsTerminator {
    address: SocketAddr,
    certificate: PathBuf,
}

impl TlsTerminator {
    /// Listens on a free loopback port; writes the certificate to `dir/localhost.pem`. Each
    /// connection is forwarded to `upstream` (`host:port`).
    pub async fn start(upstream: &str, dir: &Path) -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a self-signed certificate");
        let certificate = dir.join("localhost.pem");
        std::fs::create_dir_all(dir).expect("the certificate's directory");
        std::fs::write(&certificate, certified.cert.pem()).expect("write the certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certified.cert.der().to_vec())],
                key,
            )
            .expect("a server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        let upstream = upstream.to_owned();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    // No Nagle on either leg: a request that arrives in two TLS records (head,
                    // then body) is written upstream in two pieces, and the second would wait
                    // for the upstream's delayed ACK, adding ~40 ms that no AWS endpoint adds.
                    let _ = client.set_nodelay(true);
                    let Ok(mut tls) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let _ = plain.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Self {
            address,
            certificate,
        }
    }

    /// The address clients use: `https://localhost:<port>` (the certificate's name).
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }

    /// The PEM file holding the certificate to trust.
    pub fn certificate(&self) -> &Path {
        &self.certificate
    }
}
