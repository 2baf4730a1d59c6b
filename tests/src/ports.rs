use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Ports handed out come from below the kernel's ephemeral range (32768-60999 on Linux),
/// so an outgoing connection's local port can never take one between the moment it is
/// picked and the moment its server binds it (a chain's loadgen binds its metrics port
/// many seconds later, after thousands of connections were made).
const FIRST: u32 = 20_000;
const END: u32 = 32_768;

/// How many ports this process has handed out: each call takes the next one, so
/// parallel tests of one binary never get the same port.
static HANDED_OUT: AtomicU32 = AtomicU32::new(0);

/// A loopback TCP port that is free right now. Another process could still take it before
/// the server binds it (only another program picking fixed ports in this range could);
/// the server then fails to start with its log in the error.
pub fn free_port() -> u16 {
    // Processes start at different places, so test binaries run one after another (or a
    // stray server of an earlier run) rarely meet.
    let start = std::process::id().wrapping_mul(7_919);
    loop {
        let n = HANDED_OUT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + start.wrapping_add(n) % (END - FIRST)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether something accepts TCP connections on the loopback port.
pub(crate) fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), std::time::Duration::from_millis(200)).is_ok()
}
