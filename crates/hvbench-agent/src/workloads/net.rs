//! `net-bulk` and `net-rr`: TCP between the agent and the peer the platform driver started on
//! the host (see [`crate::peer`] for the protocol).
//!
//! Bulk throughput counts payload bytes as iperf3 does, and a sending window ends only when
//! the peer has acknowledged every byte, so that socket buffers cannot flatter it. A
//! request/response round trip is one byte each way on a `TCP_NODELAY` connection, as netperf's
//! TCP_RR with 1-byte messages.

use super::Workload;
use crate::peer::{self, HELLO_REPLY, OP_ECHO, OP_HELLO, OP_SINK, OP_SOURCE, SINK_ACK};
use crate::Mode;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Bytes per write (or read) of a bulk transfer; one iteration moves one chunk.
pub const BULK_CHUNK: usize = 128 * 1024;
/// How long to wait for the peer to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer silent for this long is gone; the window fails instead of hanging the trial.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Which way bulk data flows, seen from the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Send,
    Receive,
}

impl Direction {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "send" => Some(Direction::Send),
            "receive" => Some(Direction::Receive),
            _ => None,
        }
    }
}

/// A checked connection to the peer, and the facts about it.
struct PeerConnection {
    stream: TcpStream,
    facts: Vec<(&'static str, String)>,
}

/// Connect to the peer at `peer` and check that it speaks the protocol. On a host only a
/// loopback peer is accepted: the agent never sends traffic off this machine.
fn connect(peer: Option<&str>, mode: Mode) -> Result<PeerConnection, String> {
    let (mut stream, addr) = open(peer, mode)?;
    hello(&mut stream, addr)?;
    let mut facts = vec![("net.peer", addr.to_string())];
    if let Ok(local) = stream.local_addr() {
        facts.push(("net.local", local.to_string()));
    }
    Ok(PeerConnection { stream, facts })
}

/// Open a connection to the peer at `peer`, with I/O timeouts, without saying hello (see
/// [`hello`]). On a host only a loopback peer is accepted.
pub(crate) fn open(peer: Option<&str>, mode: Mode) -> Result<(TcpStream, SocketAddr), String> {
    let peer = peer.ok_or(
        "no network peer: the platform driver did not start one (the agent plan has no `peer`)",
    )?;
    let addr: SocketAddr = peer
        .parse()
        .map_err(|_| format!("the peer address `{peer}` is not ADDRESS:PORT"))?;
    if mode == Mode::Host && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing the peer {addr}: on a host the network workloads talk to loopback only"
        ));
    }
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| {
        format!(
            "cannot connect to the peer at {addr}: {e}{}",
            if mode == Mode::Guest {
                " (is there a network interface? see the `net.*` and `modules.*` facts)"
            } else {
                ""
            }
        )
    })?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    Ok((stream, addr))
}

/// Check that the peer at `addr`, at the other end of `stream`, speaks the protocol.
pub(crate) fn hello(stream: &mut TcpStream, addr: SocketAddr) -> Result<(), String> {
    let mut reply = [0u8; HELLO_REPLY.len()];
    stream
        .write_all(&peer::header(OP_HELLO, 0))
        .and_then(|_| stream.read_exact(&mut reply))
        .map_err(|e| format!("the peer at {addr} does not answer: {e}"))?;
    if &reply != HELLO_REPLY {
        return Err(format!(
            "the peer at {addr} is not an hvbench peer of this version (it said {:?})",
            String::from_utf8_lossy(&reply)
        ));
    }
    Ok(())
}

/// `net-bulk`: one connection, `BULK_CHUNK` bytes per iteration, one way.
pub struct NetBulk {
    conn: PeerConnection,
    direction: Direction,
    buf: Vec<u8>,
}

impl NetBulk {
    pub fn connect(peer: Option<&str>, direction: Direction) -> Result<Self, String> {
        Ok(Self {
            conn: connect(peer, Mode::current())?,
            direction,
            buf: vec![0x5a; BULK_CHUNK],
        })
    }

    fn transfer(&mut self, iterations: u64) -> std::io::Result<()> {
        let bytes = iterations.saturating_mul(BULK_CHUNK as u64);
        let s = &mut self.conn.stream;
        match self.direction {
            Direction::Send => {
                s.write_all(&peer::header(OP_SINK, bytes))?;
                for _ in 0..iterations {
                    s.write_all(&self.buf)?;
                }
                let mut ack = [0u8; 1];
                s.read_exact(&mut ack)?;
                if ack[0] != SINK_ACK {
                    return Err(std::io::Error::other(
                        "the peer's acknowledgement is garbled",
                    ));
                }
            }
            Direction::Receive => {
                s.write_all(&peer::header(OP_SOURCE, bytes))?;
                for _ in 0..iterations {
                    s.read_exact(&mut self.buf)?;
                }
            }
        }
        Ok(())
    }
}

impl Workload for NetBulk {
    fn run(&mut self, iterations: u64) {
        if let Err(e) = self.transfer(iterations) {
            panic!("net-bulk: the connection to the peer failed: {e}");
        }
    }

    /// Mbit/s of payload (bits per µs).
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        let bits = iterations as f64 * BULK_CHUNK as f64 * 8.0;
        bits / (elapsed.as_nanos() as f64 / 1e3)
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        self.conn.facts.clone()
    }
}

/// `net-rr`: one byte to the peer and back, per iteration.
pub struct NetRr {
    conn: PeerConnection,
}

impl NetRr {
    pub fn connect(peer: Option<&str>) -> Result<Self, String> {
        let conn = connect(peer, Mode::current())?;
        conn.stream
            .set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        Ok(Self { conn })
    }

    fn round_trips(&mut self, iterations: u64) -> std::io::Result<()> {
        let s = &mut self.conn.stream;
        s.write_all(&peer::header(OP_ECHO, iterations))?;
        let mut byte = [0u8; 1];
        for i in 0..iterations {
            let sent = i as u8;
            s.write_all(&[sent])?;
            s.read_exact(&mut byte)?;
            if byte[0] != sent {
                return Err(std::io::Error::other("the peer echoed a different byte"));
            }
        }
        Ok(())
    }
}

impl Workload for NetRr {
    fn run(&mut self, iterations: u64) {
        if let Err(e) = self.round_trips(iterations) {
            panic!("net-rr: the connection to the peer failed: {e}");
        }
    }

    /// µs per round trip.
    fn value(&self, iterations: u64, elapsed: Duration) -> f64 {
        elapsed.as_nanos() as f64 / 1e3 / iterations as f64
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        self.conn.facts.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness;

    fn local_peer() -> String {
        let listener = peer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        peer::spawn(listener).unwrap().to_string()
    }

    #[test]
    fn bulk_moves_data_both_ways() {
        let addr = local_peer();
        for direction in [Direction::Send, Direction::Receive] {
            let mut w = NetBulk::connect(Some(&addr), direction).unwrap();
            let window = harness::calibrate(&mut w, Duration::from_millis(20)).unwrap();
            let mbit = w.value(window.iterations, window.elapsed);
            assert!(mbit.is_finite() && mbit > 0.0, "{direction:?}: {mbit}");
            assert_eq!(w.facts()[0], ("net.peer", addr.clone()));
            // The stream stays in step after a calibration: another window works.
            w.run(3);
        }
    }

    #[test]
    fn round_trips_are_timed_per_byte() {
        let addr = local_peer();
        let mut w = NetRr::connect(Some(&addr)).unwrap();
        let window = harness::calibrate(&mut w, Duration::from_millis(20)).unwrap();
        let us = w.value(window.iterations, window.elapsed);
        assert!(us.is_finite() && us > 0.0, "{us}");
        assert_eq!(
            NetRr::connect(Some(&addr))
                .unwrap()
                .value(4, Duration::from_micros(10)),
            2.5
        );
    }

    #[test]
    fn bulk_value_is_megabits_per_second() {
        // 10 chunks of 128 KiB in 1 s: 10485760 bits / 1e6 µs.
        let addr = local_peer();
        let w = NetBulk::connect(Some(&addr), Direction::Send).unwrap();
        let v = w.value(10, Duration::from_secs(1));
        assert!((v - 10.48576).abs() < 1e-9, "{v}");
    }

    #[test]
    fn a_missing_or_remote_or_silent_peer_is_a_clear_failure() {
        let e = NetRr::connect(None).err().unwrap();
        assert!(e.contains("no network peer"), "{e}");
        let e = connect(Some("192.0.2.1:9"), Mode::Host).err().unwrap();
        assert!(e.contains("loopback only"), "{e}");
        let e = connect(Some("localhost"), Mode::Host).err().unwrap();
        assert!(e.contains("ADDRESS:PORT"), "{e}");
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = connect(Some(&format!("127.0.0.1:{port}")), Mode::Host)
            .err()
            .unwrap();
        assert!(e.contains("cannot connect"), "{e}");
    }
}
