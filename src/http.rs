//! The one place HTTP clients are built.
//!
//! TLS is rustls with the pure-Rust RustCrypto provider
//! (`rustls-rustcrypto`), so building FaceRunner needs no C compiler or
//! cmake (the default provider, aws-lc, needs both and is the slowest crate
//! of the build). The provider is installed once, process-wide, before the
//! first client is built. Certificates are checked with the platform's
//! verifier, as reqwest does by default.

use std::sync::Once;

/// A reqwest client builder with FaceRunner's TLS provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Err means another provider was installed first (by an embedding
        // program): that one is used, which is what it asked for.
        let _ = rustls::crypto::CryptoProvider::install_default(rustls_rustcrypto::provider());
    });
    reqwest::Client::builder()
}

/// Why a capped body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CappedError {
    /// The transfer failed.
    #[error(transparent)]
    Transfer(#[from] reqwest::Error),
    /// The body is larger than the cap.
    #[error("the answer is larger than {} KiB", limit / 1024)]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
}

/// A response's whole body, refused (without reading the rest) once it
/// passes `limit` bytes: for answers that must be read whole (JSON), so a
/// broken or hostile peer cannot make us hold more than that.
pub async fn read_capped(resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, CappedError> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(CappedError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A server on a free loopback port answering any request with `head`
/// (status line and headers, blank line included) and then `body_len`
/// bytes of `x`; its base URL (no trailing slash). For tests of readers
/// that must stop at a cap.
#[cfg(test)]
pub(crate) async fn test_server(head: &'static str, body_len: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(head.as_bytes()).await;
                let block = vec![b'x'; 64 * 1024];
                let mut left = body_len;
                while left > 0 {
                    let n = left.min(block.len());
                    if s.write_all(&block[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    #[test]
    fn a_client_builds_and_speaks_tls() {
        // A client builds (the provider is installed)...
        let client = super::client_builder().build().expect("client");
        // ...and negotiates TLS: a local server that reads the ClientHello
        // proves a handshake was started with our provider.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut hello = [0u8; 5];
            s.read_exact(&mut hello).expect("read");
            let _ = s.write_all(b"not tls");
            hello
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let result = rt.block_on(client.get(format!("https://127.0.0.1:{port}/")).send());
        assert!(result.is_err(), "the server does not speak TLS");
        let hello = server.join().expect("server");
        assert_eq!(hello[0], 0x16, "a TLS handshake record");
    }
}
