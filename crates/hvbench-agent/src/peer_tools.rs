//! The peer's side of general benchmarks that need a far end (docs/architecture.md, "The tools
//! tree"): `iperf3`'s server, run by the peer from its own tools tree (`--peer-tools DIR`, the
//! same tree, byte for byte, as the agent's), chrooted as the agent runs its tools.
//!
//! The agent asks on the peer's connection ([`crate::peer`]) with the request [`OP_IPERF3`]
//! (count 0). The peer picks a free port on the address the agent reached it on (the
//! loopback on a host, hvbench's bridge in a trial's namespace: never the machine's own
//! interfaces), starts `iperf3 --server --one-off --bind ADDR --port PORT`, waits until its
//! socket listens, and answers [`REPLY_OK`] with the port (`u16`, little-endian); or
//! [`REPLY_FAILED`] with a `u32` length (little-endian) and the reason. The server serves one
//! test and exits; one that is never used is killed after [`SERVER_LIFETIME`].
//!
//! For `redis`, the agent runs redis-server on its own address and asks with
//! [`OP_REDIS_BENCHMARK`]; the peer runs `redis-benchmark` against the address the request came
//! from (never another), under [`REDIS_BENCHMARK_LIMIT`], and answers [`REPLY_OK`] with a `u32`
//! length and the tool's CSV, or [`REPLY_FAILED`] with the reason (its exit status and the end
//! of its output).

use crate::run::chroot::{drain_output, run_in_tree, spawn_in_tree, WorkDir};
use crate::tools::redis_benchmark::RedisBenchmarkParams;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Start an iperf3 server for one test.
pub const OP_IPERF3: u8 = b'I';
/// Run redis-benchmark against the asker's redis-server: the count is the requests per test,
/// then 4 bytes follow, the server's port and the clients (`u16` each, little-endian).
pub const OP_REDIS_BENCHMARK: u8 = b'B';
/// How long one redis-benchmark run may take (7.0 never exits when it cannot connect).
pub const REDIS_BENCHMARK_LIMIT: Duration = Duration::from_secs(300);
pub const REPLY_OK: u8 = b'K';
pub const REPLY_FAILED: u8 = b'F';
/// How long a server waits for its one test before it is killed.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(600);
/// How long the server may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The peer's tools tree, set once from `--peer-tools`.
static TOOLS: OnceLock<PathBuf> = OnceLock::new();

/// Give the peer its tools tree.
pub fn set_tools(dir: PathBuf) {
    let _ = TOOLS.set(dir);
}

/// The peer's answer to [`OP_IPERF3`] on `s`: start a server on the address `s` was reached
/// on, then reply.
pub fn answer_iperf3(s: &mut TcpStream) -> io::Result<()> {
    let started = s
        .local_addr()
        .map_err(|e| format!("cannot read the peer's own address: {e}"))
        .and_then(|at| match TOOLS.get() {
            Some(tree) => start_iperf3_server(tree, at.ip()),
            None => Err(
                "the peer has no tools tree (the platform started it without --peer-tools)"
                    .to_string(),
            ),
        });
    match started {
        Ok(port) => {
            let mut reply = vec![REPLY_OK];
            reply.extend_from_slice(&port.to_le_bytes());
            s.write_all(&reply)
        }
        Err(why) => {
            let mut reply = vec![REPLY_FAILED];
            reply.extend_from_slice(&(why.len() as u32).to_le_bytes());
            reply.extend_from_slice(why.as_bytes());
            s.write_all(&reply)
        }
    }
}

/// The peer's answer to [`OP_REDIS_BENCHMARK`] on `s` (`requests` from the header; the port and
/// clients are read here): redis-benchmark against the asker's address, its CSV in the reply.
pub fn answer_redis_benchmark(s: &mut TcpStream, requests: u64) -> io::Result<()> {
    let mut rest = [0u8; 4];
    s.read_exact(&mut rest)?;
    let port = u16::from_le_bytes([rest[0], rest[1]]);
    let clients = u16::from_le_bytes([rest[2], rest[3]]);
    let outcome = s
        .peer_addr()
        .map_err(|e| format!("cannot read the asker's address: {e}"))
        .and_then(|asker| match TOOLS.get() {
            Some(tree) => run_redis_benchmark(tree, asker.ip(), port, requests, clients),
            None => Err(
                "the peer has no tools tree (the platform started it without --peer-tools)"
                    .to_string(),
            ),
        });
    let (status, text) = match outcome {
        Ok(csv) => (REPLY_OK, csv),
        Err(why) => (REPLY_FAILED, why),
    };
    let mut reply = vec![status];
    reply.extend_from_slice(&(text.len() as u32).to_le_bytes());
    reply.extend_from_slice(text.as_bytes());
    s.write_all(&reply)
}

fn run_redis_benchmark(
    tree: &Path,
    ip: IpAddr,
    port: u16,
    requests: u64,
    clients: u16,
) -> Result<String, String> {
    let params = RedisBenchmarkParams {
        port,
        requests: u32::try_from(requests)
            .map_err(|_| format!("{requests} requests is too many"))?,
        clients: u32::from(clients),
        ..RedisBenchmarkParams::new(ip.to_string())
    };
    let argv = params.argv().map_err(|e| e.to_string())?;
    let work = WorkDir::new().map_err(|e| format!("cannot make a work directory: {e}"))?;
    let ran = run_in_tree(tree, &argv, work.path(), REDIS_BENCHMARK_LIMIT)
        .map_err(|e| format!("cannot run `{}`: {e}", argv.join(" ")))?;
    let tail = || crate::tools::clip(format!("{}{}", ran.stdout, ran.stderr).trim(), 400);
    if ran.timed_out {
        return Err(format!(
            "redis-benchmark ran past its limit of {} s and was killed; output ends: {}",
            REDIS_BENCHMARK_LIMIT.as_secs(),
            tail()
        ));
    }
    crate::tools::check_exit("redis-benchmark", ran.code, &ran.stderr)
        .map_err(|e| format!("{e}; output ends: {}", tail()))?;
    Ok(ran.stdout)
}

/// Start `iperf3 --server --one-off` on `ip` and a free port, chrooted in `tree`; the port once
/// it listens. The server lives until its one test ends, or [`SERVER_LIFETIME`].
fn start_iperf3_server(tree: &Path, ip: IpAddr) -> Result<u16, String> {
    // A free port of that address; iperf3 binds it a moment later.
    let port = TcpListener::bind(SocketAddr::new(ip, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free port on {ip}: {e}"))?
        .port();
    let work = WorkDir::new().map_err(|e| format!("cannot make a work directory: {e}"))?;
    let argv: Vec<String> = [
        "iperf3",
        "--server",
        "--one-off",
        "--bind",
        &ip.to_string(),
        "--port",
        &port.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = spawn_in_tree(tree, &argv, work.path())
        .map_err(|e| format!("cannot start `{}`: {e}", argv.join(" ")))?;
    let group = child.id() as libc::pid_t;
    // iperf3 says "Server listening on PORT" only once its stdout's buffer is flushed, which a
    // pipe delays: the socket in the LISTEN state (this namespace's /proc/net/tcp) says it.
    let started = Instant::now();
    let outcome = loop {
        if listening(port) {
            break Ok(port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut said = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut said);
            }
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut said);
            }
            break Err(format!(
                "iperf3's server ended ({status}) before it listened: {}",
                crate::tools::clip(said.trim(), 400)
            ));
        }
        if started.elapsed() > START_TIMEOUT {
            // SAFETY: kill(2) on the server's own process group (it is its leader).
            unsafe { libc::kill(-group, libc::SIGKILL) };
            break Err(format!(
                "iperf3's server did not listen on port {port} within {} s",
                START_TIMEOUT.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(20));
    };
    // Whatever happens, the server (and its work directory) go within its lifetime; its
    // output is drained so that it never blocks on a full pipe.
    drain_output(&mut child, |_| {});
    thread::spawn(move || {
        let _work = work;
        while started.elapsed() < SERVER_LIFETIME {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = child.wait();
    });
    outcome
}

/// Whether a TCP socket of this network namespace listens on `port` (IPv4 or IPv6).
fn listening(port: u16) -> bool {
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .any(|table| listens_in(&table, port))
}

/// Whether `/proc/net/tcp`'s `table` holds a socket in state LISTEN (`0A`) on `port`.
fn listens_in(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or("");
        let state = fields.nth(1).unwrap_or("");
        state == "0A"
            && local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port)
    })
}

/// The agent's side: ask the peer at `peer` for an iperf3 server; its address and port.
pub fn ask_for_iperf3(peer: &str) -> Result<SocketAddr, String> {
    let (mut s, addr) = connect(peer, START_TIMEOUT)?;
    s.write_all(&crate::peer::header(OP_IPERF3, 0))
        .map_err(io_error(addr))?;
    let mut status = [0u8; 1];
    s.read_exact(&mut status).map_err(io_error(addr))?;
    match status[0] {
        REPLY_OK => {
            let mut port = [0u8; 2];
            s.read_exact(&mut port).map_err(io_error(addr))?;
            Ok(SocketAddr::new(addr.ip(), u16::from_le_bytes(port)))
        }
        REPLY_FAILED => {
            let mut len = [0u8; 4];
            s.read_exact(&mut len).map_err(io_error(addr))?;
            let len = u32::from_le_bytes(len).min(64 * 1024) as usize;
            let mut why = vec![0u8; len];
            s.read_exact(&mut why).map_err(io_error(addr))?;
            Err(format!(
                "the peer could not start iperf3's server: {}",
                String::from_utf8_lossy(&why)
            ))
        }
        other => Err(format!(
            "the peer answered {other:#04x} to a request for iperf3's server"
        )),
    }
}

/// The agent's side: ask the peer at `peer` to run redis-benchmark against this machine's
/// redis-server on `port`; the tool's CSV.
pub fn ask_for_redis_benchmark(
    peer: &str,
    port: u16,
    requests: u32,
    clients: u16,
) -> Result<String, String> {
    let (mut s, addr) = connect(peer, REDIS_BENCHMARK_LIMIT)?;
    let mut request = crate::peer::header(OP_REDIS_BENCHMARK, u64::from(requests)).to_vec();
    request.extend_from_slice(&port.to_le_bytes());
    request.extend_from_slice(&clients.to_le_bytes());
    s.write_all(&request).map_err(io_error(addr))?;
    let (status, text) = read_text_reply(&mut s).map_err(io_error(addr))?;
    match status {
        REPLY_OK => Ok(text),
        REPLY_FAILED => Err(format!("the peer's redis-benchmark failed: {text}")),
        other => Err(format!(
            "the peer answered {other:#04x} to a request for redis-benchmark"
        )),
    }
}

/// The address this machine reaches the peer at `peer` from: where its servers listen.
pub fn own_address_toward(peer: &str) -> Result<IpAddr, String> {
    let (s, _) = connect(peer, Duration::from_secs(10))?;
    s.local_addr()
        .map(|a| a.ip())
        .map_err(|e| format!("cannot read this side's address: {e}"))
}

fn connect(peer: &str, reply_within: Duration) -> Result<(TcpStream, SocketAddr), String> {
    let addr: SocketAddr = peer
        .parse()
        .map_err(|_| format!("the peer's address `{peer}` is not ADDRESS:PORT"))?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("cannot reach the peer at {addr}: {e}"))?;
    s.set_read_timeout(Some(reply_within + Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    Ok((s, addr))
}

fn io_error(addr: SocketAddr) -> impl Fn(io::Error) -> String {
    move |e: io::Error| match e.kind() {
        ErrorKind::UnexpectedEof => format!(
            "the peer at {addr} closed the connection: it does not serve general benchmarks \
             (an older agent?)"
        ),
        _ => format!("talking to the peer at {addr}: {e}"),
    }
}

/// A status byte, then a `u32` length (little-endian) and that much text.
fn read_text_reply(s: &mut TcpStream) -> io::Result<(u8, String)> {
    let mut status = [0u8; 1];
    s.read_exact(&mut status)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len).min(16 << 20) as usize;
    let mut text = vec![0u8; len];
    s.read_exact(&mut text)?;
    Ok((status[0], String::from_utf8_lossy(&text).into_owned()))
}

/// A redis-server of the agent's, chrooted in the tools tree, listening on `ip`; killed (its
/// process group) when dropped.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    _work: WorkDir,
}

impl RedisServer {
    /// Start it on `ip` and a free port, without persistence; once it listens.
    pub fn start(tree: &Path, ip: IpAddr) -> Result<RedisServer, String> {
        let port = TcpListener::bind(SocketAddr::new(ip, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port on {ip}: {e}"))?
            .port();
        let work = WorkDir::new().map_err(|e| format!("cannot make a work directory: {e}"))?;
        let argv: Vec<String> = [
            "redis-server",
            "--bind",
            &ip.to_string(),
            "--port",
            &port.to_string(),
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            "/tmp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut child = spawn_in_tree(tree, &argv, work.path())
            .map_err(|e| format!("cannot start `{}`: {e}", argv.join(" ")))?;
        // Its log goes to stdout; drained so that it never blocks.
        drain_output(&mut child, |_| {});
        let server = RedisServer {
            child,
            port,
            _work: work,
        };
        let started = Instant::now();
        let mut server = server;
        loop {
            if listening(port) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server ended ({status}) before it listened"));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "redis-server did not listen on {ip}:{port} within {} s",
                    START_TIMEOUT.as_secs()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server's own process group (it is its leader).
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer without a tools tree says so, and the agent reports its words.
    #[test]
    fn a_peer_without_a_tree_says_so() {
        let listener = crate::peer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = crate::peer::spawn(listener).unwrap();
        // TOOLS is process-wide; no test of this crate sets it.
        let e = ask_for_iperf3(&addr.to_string()).unwrap_err();
        assert!(e.contains("no tools tree"), "{e}");
        assert!(ask_for_iperf3("not an address").is_err());
    }

    #[test]
    fn a_listening_socket_is_found_in_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
            0: 0100007F:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   \
            1: 0100007F:9C40 0100007F:1451 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        assert!(listens_in(table, 5201));
        // Established, not listening.
        assert!(!listens_in(table, 40000));
        assert!(!listens_in(table, 80));
        // And for real: a listener of this process.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(listening(l.local_addr().unwrap().port()));
    }
}
