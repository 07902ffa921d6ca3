//! What hookgate's tests, examples and benches share: [`RedisServer`], a `redis-server` of
//! their own on a free loopback port.
//!
//! `redis-server` (Redis 7) must be on the PATH: `.ci/with-redis` installs it, or
//! `apt-get install redis-server`.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server has to answer `PING`.
const PATIENCE: Duration = Duration::from_secs(10);

/// How many free ports [`RedisServer::spawn`] tries: another process may take a free port
/// before the server binds it.
const PORT_TRIES: usize = 5;

/// A `redis-server` on 127.0.0.1, without persistence (its working directory is a temporary
/// one of its own); killed when dropped. It can be killed and started again on the same port.
/// [`RedisServer::start_tls`] serves TLS only, with a certificate of its own.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    tls: bool,
}

/// The certificate (self-signed, for 127.0.0.1 and localhost) and key of a TLS server.
const TLS_CERT: &str = "tls.crt";
const TLS_KEY: &str = "tls.key";

impl RedisServer {
    /// A running server on a free port; panics (saying how to install `redis-server`) if none
    /// starts.
    pub fn start() -> RedisServer {
        RedisServer::spawn().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A running server on a free port, or why none started.
    pub fn spawn() -> io::Result<RedisServer> {
        RedisServer::spawn_with(RedisServer::stopped)
    }

    /// A running server that speaks only TLS (`rediss://`), with a self-signed certificate
    /// for 127.0.0.1 whose PEM is [`RedisServer::tls_cert`]; panics if none starts.
    pub fn start_tls() -> RedisServer {
        RedisServer::spawn_with(|| {
            let mut server = RedisServer::stopped();
            server.make_certificate();
            server
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn spawn_with(stopped: impl Fn() -> RedisServer) -> io::Result<RedisServer> {
        for _ in 0..PORT_TRIES {
            let mut server = stopped();
            if server.try_run()? {
                return Ok(server);
            }
        }
        Err(io::Error::other(format!("redis-server did not start on any of {PORT_TRIES} free ports")))
    }

    /// A server not started yet, on a port nothing listens on; [`RedisServer::restart`]
    /// starts it.
    pub fn stopped() -> RedisServer {
        let dir = tempfile::tempdir().expect("a temporary directory for redis-server");
        RedisServer { port: free_port(), child: None, dir, tls: false }
    }

    /// Writes a self-signed certificate and its key for 127.0.0.1, and serves TLS from now on.
    fn make_certificate(&mut self) {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
        std::fs::write(self.dir.path().join(TLS_CERT), cert.pem()).expect("write the certificate");
        std::fs::write(self.dir.path().join(TLS_KEY), signing_key.serialize_pem()).expect("write the key");
        self.tls = true;
    }

    /// The PEM of a TLS server's certificate (its own CA); `None` for a plain server.
    pub fn tls_cert(&self) -> Option<Vec<u8>> {
        self.tls.then(|| std::fs::read(self.tls_cert_file()).expect("read the certificate"))
    }

    /// The file of a TLS server's certificate.
    pub fn tls_cert_file(&self) -> std::path::PathBuf {
        self.dir.path().join(TLS_CERT)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it; nothing if it is not
    /// running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the running server (SIGSTOP) without closing its connections, as a hung host or
    /// a network partition would: requests wait unanswered until [`RedisServer::thaw`].
    pub fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Lets a frozen server go on (SIGCONT); it then answers what waited.
    pub fn thaw(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("redis-server is not running");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits i32"));
        nix::sys::signal::kill(pid, signal).unwrap_or_else(|e| panic!("cannot send {signal} to redis-server: {e}"));
    }

    /// Starts the server (again, killing it first if it runs) on the same port, empty: nothing
    /// is persisted. Panics if it does not answer within 10 s.
    pub fn restart(&mut self) {
        self.kill();
        match self.try_run() {
            Ok(true) => {}
            Ok(false) => panic!("redis-server did not start again on port {}", self.port),
            Err(e) => panic!("{e}"),
        }
    }

    /// Runs the server on its port: false if it exited (its port was taken) or did not
    /// answer in time; an error if it cannot be run at all.
    fn try_run(&mut self) -> io::Result<bool> {
        let port = self.port.to_string();
        let listen = if self.tls {
            // Clients are not asked for certificates; the CA file is required all the same.
            vec!["--port", "0", "--tls-port", &port, "--tls-cert-file", TLS_CERT, "--tls-key-file", TLS_KEY]
                .into_iter()
                .chain(["--tls-ca-cert-file", TLS_CERT, "--tls-auth-clients", "no"])
                .collect()
        } else {
            vec!["--port", &port]
        };
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(listen)
            .current_dir(self.dir.path())
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run redis-server ({e}): it must be on the PATH (Redis 7; .ci/with-redis \
                         installs it, or apt-get install redis-server)"
                    ),
                )
            })?;
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return Ok(false);
            }
            // A TLS server cannot be PINGed in plain text: one that accepts connections is up.
            if (self.tls && TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok()) || answers(self.port) {
                self.child = Some(child);
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        Ok(false)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis on `port` answers `PING` with `+PONG`.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// A TCP port nothing listened on a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind an ephemeral port");
    listener.local_addr().expect("a bound listener's address").port()
}

#[cfg(test)]
mod tests {
    use super::RedisServer;

    #[test]
    fn a_server_answers_until_killed_and_again_after_a_restart() {
        let mut server = RedisServer::start();
        assert!(super::answers(server.port()));
        assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
        server.kill();
        assert!(!super::answers(server.port()));
        server.restart();
        assert!(super::answers(server.port()));
        server.freeze();
        assert!(!super::answers(server.port()), "a frozen server does not answer (within 1 s)");
        server.thaw();
        assert!(super::answers(server.port()));
    }
}
