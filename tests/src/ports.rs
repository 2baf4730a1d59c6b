use std::net::TcpListener;

/// A loopback TCP port that is free right now, picked by the kernel. Another process could
/// take it before the server binds it; on loopback in a test run that race is rare, and
/// the server then fails to start with its log in the error.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 always works on a machine with loopback")
}

/// Whether something accepts TCP connections on the loopback port.
pub(crate) fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), std::time::Duration::from_millis(200)).is_ok()
}
