//! `net`: bulk TCP from the agent to the plan's peer (an `hvbench-agent --peer`, see
//! [`crate::peer`]) over `streams` connections, each written by a thread of its own. The
//! rate is Mbit/s of payload the agent's sockets took in the window.
//!
//! Each stream makes one sink request whose count ([`u64::MAX`]) it never reaches, writes
//! 128 KiB chunks until it stops, and then closes its connection, which the peer takes as the
//! end of the request. Unlike `net-bulk` it never waits for an acknowledgement. In a guest,
//! QEMU's user network hands every connection of the guest to the peer as one byte stream
//! ([`crate::peer`]): short requests from several streams would interleave mid-request and
//! put the peer out of step, while inside one endless sink every byte is payload, whichever
//! stream it came from. For the same reason only the first stream says hello, before the
//! others connect, so that the answer cannot reach the wrong connection. Without
//! acknowledgements the first window may count up to a socket buffer's worth of bytes not yet
//! delivered; later windows run at the rate the peer drains.

use super::{Running, Work};
use crate::peer::{self, OP_SINK};
use crate::workloads::net::{self, BULK_CHUNK};
use crate::Mode;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often a window looks at the clock, the stop flag and the streams' health.
const POLL: Duration = Duration::from_millis(5);

/// What the streams' threads and the window share.
#[derive(Default)]
struct Shared {
    /// Payload bytes written, all streams together.
    bytes: AtomicU64,
    /// Set when the stressor stops: the threads end after their current chunk.
    quit: AtomicBool,
    /// The first stream failure, for the `Failed` frame.
    failure: Mutex<Option<String>>,
}

/// The streams and their threads.
pub struct Hog {
    shared: Arc<Shared>,
    /// A handle on each stream, to shut it down (a write blocked on a full socket returns).
    streams: Vec<TcpStream>,
    workers: Vec<JoinHandle<()>>,
    /// `shared.bytes` at the end of the last window.
    counted: u64,
    logs: Vec<String>,
}

impl Hog {
    /// Connect `streams` connections to `peer` and start writing on each.
    pub fn new(peer: Option<&str>, streams: u64) -> Result<Self, String> {
        let mode = Mode::current();
        let (mut first, addr) = net::open(peer, mode)?;
        net::hello(&mut first, addr)?;
        let mut connections = vec![first];
        for _ in 1..streams {
            connections.push(net::open(peer, mode)?.0);
        }
        let mut hog = Hog {
            shared: Arc::default(),
            streams: Vec::new(),
            workers: Vec::new(),
            counted: 0,
            logs: vec![format!(
                "sending to the peer at {addr} over {streams} streams"
            )],
        };
        for (i, stream) in connections.into_iter().enumerate() {
            let handle = stream
                .try_clone()
                .map_err(|e| format!("cannot keep a handle on a stream: {e}"))?;
            let shared = Arc::clone(&hog.shared);
            let worker = thread::Builder::new()
                .name(format!("stress-net-{i}"))
                .spawn(move || pump(stream, &shared))
                .map_err(|e| format!("cannot start a thread for a stream: {e}"))?;
            hog.streams.push(handle);
            hog.workers.push(worker);
        }
        Ok(hog)
    }

    /// End every stream and wait for its thread.
    fn stop(&mut self) {
        self.shared.quit.store(true, Ordering::Relaxed);
        for stream in self.streams.drain(..) {
            // Already closed by a failure is fine.
            let _ = stream.shutdown(Shutdown::Both);
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// One stream's thread: write until told to quit; a failure before that is recorded.
fn pump(mut stream: TcpStream, shared: &Shared) {
    if let Err(e) = send_until_quit(&mut stream, shared) {
        if !shared.quit.load(Ordering::Relaxed) {
            let mut failure = shared.failure.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert_with(|| e.to_string());
        }
    }
}

fn send_until_quit(stream: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    let chunk = vec![0x5a; BULK_CHUNK];
    stream.write_all(&peer::header(OP_SINK, u64::MAX))?;
    while !shared.quit.load(Ordering::Relaxed) {
        stream.write_all(&chunk)?;
        shared.bytes.fetch_add(BULK_CHUNK as u64, Ordering::Relaxed);
    }
    Ok(())
}

impl Running for Hog {
    /// The streams write on their own; a window waits for its end and counts what they wrote.
    /// It may count nothing: a network that moves nothing shows as a rate of 0.
    fn window(&mut self, until: Instant, stop: &AtomicBool) -> Result<Work, String> {
        loop {
            let failure = self
                .shared
                .failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(e) = failure {
                return Err(format!("a stream to the peer failed: {e}"));
            }
            let now = Instant::now();
            if stop.load(Ordering::Relaxed) || now >= until {
                break;
            }
            thread::sleep((until - now).min(POLL));
        }
        let total = self.shared.bytes.load(Ordering::Relaxed);
        let sent = total - self.counted;
        self.counted = total;
        Ok(Work {
            iterations: sent / BULK_CHUNK as u64,
            amount: sent as f64 * 8.0 / 1e6,
        })
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    fn finish(mut self: Box<Self>) -> Vec<String> {
        self.stop();
        Vec::new()
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, stopped_after_start};
    use super::super::Stressor;
    use super::*;
    use crate::peer::HELLO_REPLY;
    use hvbench_proto::Message;
    use std::io::Read;
    use std::net::TcpListener;

    fn local_peer() -> String {
        let listener = peer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        peer::spawn(listener).unwrap().to_string()
    }

    #[test]
    fn streams_data_to_the_peer_window_after_window() {
        let addr = local_peer();
        let mut hog = Hog::new(Some(&addr), 3).unwrap();
        assert!(hog.take_logs()[0].contains("over 3 streams"));
        let d = Duration::from_millis(100);
        check(&mut hog, d);
        check(&mut hog, d);
        assert!(Box::new(hog).finish().is_empty());
        // The peer took the ends of the endless requests in its stride: it still answers.
        let (mut s, a) = net::open(Some(&addr), Mode::Host).unwrap();
        net::hello(&mut s, a).unwrap();
    }

    #[test]
    fn the_stop_flag_ends_it_and_closes_the_streams() {
        let addr = local_peer();
        let start = || Hog::new(Some(&addr), 2).map(|h| Box::new(h) as Box<dyn Running>);
        let (messages, lag) = stopped_after_start(
            &Stressor::Net { streams: 2 },
            start,
            Some(50),
            Duration::from_millis(200),
        );
        assert!(lag < Duration::from_millis(300), "{lag:?}");
        let rates: Vec<f64> = messages
            .iter()
            .filter_map(|m| match m {
                Message::Sample { unit, value, .. } if unit == "Mbit/s" => Some(*value),
                _ => None,
            })
            .collect();
        assert!(rates.len() >= 2, "{messages:?}");
        assert!(rates.iter().sum::<f64>() > 0.0, "{rates:?}");
        assert!(
            matches!(messages.last(), Some(Message::Done { failures: 0, .. })),
            "{messages:?}"
        );
    }

    #[test]
    fn a_peer_that_goes_away_is_a_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // A peer that answers the hello, checks the endless sink request, then hangs up.
        let fake = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut h = [0u8; 9];
            s.read_exact(&mut h).unwrap();
            assert_eq!(h[0], peer::OP_HELLO);
            s.write_all(HELLO_REPLY).unwrap();
            s.read_exact(&mut h).unwrap();
            assert_eq!(h, peer::header(OP_SINK, u64::MAX));
            let mut some = vec![0u8; 4096];
            s.read_exact(&mut some).unwrap();
        });
        let mut hog = Hog::new(Some(&addr), 1).unwrap();
        fake.join().unwrap();
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        let e = loop {
            match hog.window(Instant::now() + Duration::from_millis(20), &stop) {
                Ok(_) => assert!(Instant::now() < deadline, "the failure went unnoticed"),
                Err(e) => break e,
            }
        };
        assert!(e.contains("a stream to the peer failed"), "{e}");
    }

    #[test]
    fn a_missing_or_remote_peer_is_refused() {
        let e = Hog::new(None, 1).err().unwrap();
        assert!(e.contains("no network peer"), "{e}");
        let e = Hog::new(Some("192.0.2.1:9"), 1).err().unwrap();
        assert!(e.contains("loopback only"), "{e}");
    }
}
