//! Peer mode: `hvbench-agent --peer ADDR`, the far end of the `net-*` workloads.
//!
//! The platform driver starts a peer for each trial that has a network workload — on the
//! host's loopback for host runs and QEMU's user network, on the bridge of the network
//! namespace it made for the trial otherwise — and kills it (its process group) when the
//! trial ends. The agent under test drives
//! every exchange; the peer only answers. One connection carries a sequence of requests, each
//! a 9-byte header — an operation byte and a little-endian `u64` count — followed by what that
//! operation moves:
//!
//! | op | the agent then | the peer |
//! |---|---|---|
//! | `H` hello | reads [`HELLO_REPLY`] | writes [`HELLO_REPLY`] |
//! | `S` sink | writes `count` bytes, reads one ack byte | reads `count` bytes, writes [`SINK_ACK`] |
//! | `R` source | reads `count` bytes | writes `count` bytes |
//! | `E` echo | writes and reads back, `count` bytes in all | writes back what it reads |
//! | `I` iperf3 | reads the reply | starts iperf3's server, replies its port ([`crate::peer_tools`]) |
//! | `B` redis-benchmark | sends port and clients, reads the reply | runs redis-benchmark against the asker, replies its CSV |
//!
//! Every request is self-delimiting, so the stream stays in step even where the agent's
//! connections reach the peer as one byte stream (QEMU's user network forwards a guest's
//! connections to one host socket).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

pub const OP_HELLO: u8 = b'H';
pub const OP_SINK: u8 = b'S';
pub const OP_SOURCE: u8 = b'R';
pub const OP_ECHO: u8 = b'E';
/// The peer's answer to a hello: protocol name and version.
pub const HELLO_REPLY: &[u8; 8] = b"HVBPEER1";
/// The peer's answer once a sink request's bytes have all arrived.
pub const SINK_ACK: u8 = b'K';
/// The first line the peer prints on stdout, followed by the address it listens on.
pub use hvbench_proto::PEER_READY as READY_PREFIX;
/// How long a peer started from the command line lives unless told otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Bytes moved per read or write on the peer's side.
const CHUNK: usize = 128 * 1024;

/// A request header: the operation and its count.
pub fn header(op: u8, count: u64) -> [u8; 9] {
    let mut h = [0u8; 9];
    h[0] = op;
    h[1..].copy_from_slice(&count.to_le_bytes());
    h
}

/// Listen on `addr`, which must be a loopback address or the address of hvbench's own bridge
/// in the trial's network namespace ([`hvbench_proto::PEER_BRIDGE`]): the peer serves the
/// agent of this machine, its guest through QEMU's forwarding, or a guest on that bridge, and
/// never listens on the machine's own interfaces.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if !addr.ip().is_loopback() && !bridge_addresses().contains(&addr.ip()) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the peer listens on a loopback address (such as 127.0.0.1:0) or on the \
                 address of hvbench's bridge {}, not on {addr}",
                hvbench_proto::PEER_BRIDGE
            ),
        ));
    }
    TcpListener::bind(addr)
}

/// The IPv4 addresses of [`hvbench_proto::PEER_BRIDGE`] in this process's network namespace.
pub fn bridge_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that we free below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return out;
    }
    let mut at = list;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*at };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() == hvbench_proto::PEER_BRIDGE.as_bytes() && !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr is non-null and points to a sockaddr whose family says its type.
            let family = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))));
            }
        }
        at = ifa.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    out
}

/// Serve every connection of `listener` on a thread of its own, forever.
pub fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                thread::spawn(move || {
                    // A broken connection ends only itself; the agent reports its side.
                    let _ = handle(s);
                });
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Serve `listener` in the background (for tests and in-process peers); returns its address.
pub fn spawn(listener: TcpListener) -> io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    thread::spawn(move || serve(listener));
    Ok(addr)
}

/// Answer one connection's requests until the agent closes it.
fn handle(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut h = [0u8; 9];
        if !read_exact_or_eof(&mut s, &mut h)? {
            return Ok(());
        }
        let count = u64::from_le_bytes(h[1..].try_into().expect("8 bytes"));
        match h[0] {
            OP_HELLO => s.write_all(HELLO_REPLY)?,
            crate::peer_tools::OP_IPERF3 => crate::peer_tools::answer_iperf3(&mut s)?,
            crate::peer_tools::OP_REDIS_BENCHMARK => {
                crate::peer_tools::answer_redis_benchmark(&mut s, count)?
            }
            OP_SINK => {
                let mut left = count;
                while left > 0 {
                    let n = s.read(&mut buf[..chunk(left)])?;
                    if n == 0 {
                        return Ok(());
                    }
                    left -= n as u64;
                }
                s.write_all(&[SINK_ACK])?;
            }
            OP_SOURCE => {
                let mut left = count;
                while left > 0 {
                    let n = chunk(left);
                    s.write_all(&buf[..n])?;
                    left -= n as u64;
                }
            }
            OP_ECHO => {
                let mut left = count;
                while left > 0 {
                    let n = s.read(&mut buf[..chunk(left)])?;
                    if n == 0 {
                        return Ok(());
                    }
                    s.write_all(&buf[..n])?;
                    left -= n as u64;
                }
            }
            other => {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("unknown request {other:#04x}"),
                ))
            }
        }
    }
}

fn chunk(left: u64) -> usize {
    usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK))
}

/// Fill `buf`; `false` when the connection ended cleanly before the first byte.
fn read_exact_or_eof(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// `hvbench-agent --peer ADDR [--peer-tools DIR]`: listen, print [`READY_PREFIX`] and the address on stdout, serve
/// until killed or until `lifetime` has passed. Returns the exit status.
pub fn main(listen: &str, lifetime: Duration, tools: Option<std::path::PathBuf>) -> i32 {
    if let Some(dir) = tools {
        crate::peer_tools::set_tools(dir);
    }
    let addr: SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!(
                "hvbench-agent: --peer needs ADDRESS:PORT such as 127.0.0.1:0, got `{listen}`"
            );
            return crate::cli::EXIT_USAGE;
        }
    };
    let listener = match bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hvbench-agent: cannot listen on {addr}: {e}");
            return crate::cli::EXIT_FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hvbench-agent: cannot read the listening address: {e}");
            return crate::cli::EXIT_FAILURE;
        }
    };
    let mut out = io::stdout().lock();
    if writeln!(out, "{READY_PREFIX}{local}")
        .and_then(|_| out.flush())
        .is_err()
    {
        return crate::cli::EXIT_FAILURE;
    }
    drop(out);
    // A driver that dies without killing its peer leaves it running at most this long.
    thread::spawn(move || {
        thread::sleep(lifetime);
        std::process::exit(crate::cli::EXIT_OK);
    });
    serve(listener);
    crate::cli::EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> TcpStream {
        let addr = spawn(bind("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap();
        TcpStream::connect(addr).unwrap()
    }

    #[test]
    fn answers_each_request_in_turn_on_one_connection() {
        let mut s = peer();
        s.write_all(&header(OP_HELLO, 0)).unwrap();
        let mut hello = [0u8; 8];
        s.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, HELLO_REPLY);

        s.write_all(&header(OP_SINK, 300_000)).unwrap();
        s.write_all(&vec![7u8; 300_000]).unwrap();
        let mut ack = [0u8; 1];
        s.read_exact(&mut ack).unwrap();
        assert_eq!(ack[0], SINK_ACK);

        s.write_all(&header(OP_SOURCE, 200_001)).unwrap();
        let mut got = vec![0u8; 200_001];
        s.read_exact(&mut got).unwrap();

        s.write_all(&header(OP_ECHO, 3)).unwrap();
        for b in [1u8, 2, 3] {
            s.write_all(&[b]).unwrap();
            s.read_exact(&mut ack).unwrap();
            assert_eq!(ack[0], b);
        }
        // Still in step: another hello is answered.
        s.write_all(&header(OP_HELLO, 0)).unwrap();
        s.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, HELLO_REPLY);
    }

    #[test]
    fn unknown_requests_end_the_connection() {
        let mut s = peer();
        s.write_all(&header(b'?', 0)).unwrap();
        let mut b = [0u8; 1];
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)));
    }

    #[test]
    fn listens_on_loopback_or_hvbenchs_bridge_only() {
        // No hvbench bridge in the namespace the tests run in: only loopback is allowed.
        assert!(bridge_addresses().is_empty());
        let e = bind("0.0.0.0:0".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("loopback"), "{e}");
        assert!(bind("10.0.2.100:0".parse().unwrap()).is_err());
        assert!(bind("127.0.0.1:0".parse().unwrap()).is_ok());
    }
}
