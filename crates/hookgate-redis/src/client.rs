//! How a fleet reaches its Redis: one client builder for the state backend and the event bus.

use redis::io::tcp::TcpSettings;
use redis::{Client, IntoConnectionInfo, RedisResult, TlsCertificates};

/// A client of the Redis at `url` (`redis://`, `rediss://` for TLS, `redis+unix://`), with
/// Nagle's delay off (state calls and events are small and latency-bound). `tls_ca` is the PEM
/// of the CA that signed a `rediss://` server's certificate; without it the system's roots are
/// trusted. Fails if the URL is malformed, or if `tls_ca` is given for a URL without TLS or
/// holds no certificate.
pub fn redis_client(url: &str, tls_ca: Option<&[u8]>) -> RedisResult<Client> {
    let info = url.into_connection_info()?.set_tcp_settings(TcpSettings::default().set_nodelay(true));
    match tls_ca {
        Some(ca) => {
            let certificates = TlsCertificates { client_tls: None, root_cert: Some(ca.to_vec()) };
            Client::build_with_tls(info, certificates)
        }
        None => Client::open(info),
    }
}
