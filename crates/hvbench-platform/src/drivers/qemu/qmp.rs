//! Just enough of QEMU's machine protocol (QMP) to pin vCPUs — ask QEMU for its vCPU thread
//! ids (`query-cpus-fast`) and set each thread's CPU affinity — and for the evidence collector
//! to read KVM's statistics (`query-stats`) through a [`Qmp`] session.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One vCPU and the host thread that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcpuThread {
    pub cpu_index: u32,
    pub thread_id: i32,
}

/// A QMP session: connected, capabilities negotiated, one command at a time.
pub struct Qmp {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    /// Connect to the QMP socket (waiting for QEMU to create it, until `deadline` or `stop`),
    /// read the greeting and leave capabilities negotiation mode.
    pub fn connect(socket: &Path, deadline: Instant, stop: &AtomicBool) -> Result<Qmp, String> {
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) => {
                    if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        return Err(format!(
                            "cannot reach QEMU's QMP socket {}: {e}",
                            socket.display()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut qmp = Qmp {
            writer,
            reader: BufReader::new(stream),
        };
        read_reply(&mut qmp.reader)?; // the greeting
        qmp.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(qmp)
    }

    /// Send one command (a JSON object on one line) and return its reply.
    pub fn execute(&mut self, command: &str) -> Result<serde_json::Value, String> {
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .map_err(|e| format!("QMP: {e}"))?;
        read_reply(&mut self.reader)
    }
}

/// Connect to the QMP socket (waiting for QEMU to create it, until `deadline` or `stop`), and
/// return the vCPU threads.
pub fn vcpu_threads(
    socket: &Path,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Vec<VcpuThread>, String> {
    let mut qmp = Qmp::connect(socket, deadline, stop)?;
    parse_cpus(&qmp.execute(r#"{"execute":"query-cpus-fast"}"#)?)
}

/// The next line that is not an asynchronous event.
fn read_reply(r: &mut impl BufRead) -> Result<serde_json::Value, String> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| format!("QMP: {e}"))? == 0 {
            return Err("QMP: QEMU closed the connection".into());
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("QMP: {e}"))?;
        if v.get("event").is_some() {
            continue;
        }
        if let Some(err) = v.get("error") {
            return Err(format!("QMP error: {err}"));
        }
        return Ok(v);
    }
}

/// `{"return": [{"cpu-index": 0, "thread-id": 1234, ...}, ...]}` as vCPU threads.
pub fn parse_cpus(v: &serde_json::Value) -> Result<Vec<VcpuThread>, String> {
    let list = v
        .get("return")
        .and_then(|r| r.as_array())
        .ok_or("QMP: query-cpus-fast returned no list")?;
    list.iter()
        .map(|c| {
            let idx = c.get("cpu-index").and_then(|x| x.as_u64());
            let tid = c.get("thread-id").and_then(|x| x.as_i64());
            match (idx, tid) {
                (Some(i), Some(t)) => Ok(VcpuThread {
                    cpu_index: i as u32,
                    thread_id: t as i32,
                }),
                _ => Err(format!("QMP: unexpected vCPU entry {c}")),
            }
        })
        .collect()
}

/// Pin vCPU i to `cpus[i % cpus.len()]`; returns what was applied, e.g. "vcpu0:cpu1".
pub fn pin(threads: &[VcpuThread], cpus: &[usize]) -> Result<String, String> {
    let mut applied = Vec::new();
    for t in threads {
        let cpu = cpus[t.cpu_index as usize % cpus.len()];
        set_affinity(t.thread_id, cpu).map_err(|e| {
            format!(
                "cannot pin vCPU {} (thread {}) to CPU {cpu}: {e}",
                t.cpu_index, t.thread_id
            )
        })?;
        applied.push(format!("vcpu{}:cpu{cpu}", t.cpu_index));
    }
    Ok(applied.join(","))
}

fn set_affinity(tid: i32, cpu: usize) -> std::io::Result<()> {
    crate::isolation::affinity::set_affinity(tid, &crate::isolation::affinity::cpu_set(&[cpu]))
}

/// The CPUs this process may run on (its affinity mask), for checking a pinning request; none
/// when it cannot be read.
pub fn allowed_cpus() -> Vec<usize> {
    crate::isolation::affinity::allowed_cpus().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_cpus_fast_reply_is_parsed() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"return": [{"thread-id": 25627, "props": {"core-id": 0}, "qom-path": "/machine/unattached/device[0]", "cpu-index": 0, "target": "x86_64"},
                           {"thread-id": 25628, "cpu-index": 1, "target": "x86_64"}]}"#,
        )
        .unwrap();
        assert_eq!(
            parse_cpus(&v).unwrap(),
            vec![
                VcpuThread {
                    cpu_index: 0,
                    thread_id: 25627
                },
                VcpuThread {
                    cpu_index: 1,
                    thread_id: 25628
                }
            ]
        );
        assert!(parse_cpus(&serde_json::json!({"return": {}})).is_err());
    }

    #[test]
    fn a_thread_is_really_pinned() {
        let cpu = *allowed_cpus().last().expect("some CPU is allowed");
        // SAFETY: gettid(2) has no preconditions.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        let applied = pin(
            &[VcpuThread {
                cpu_index: 0,
                thread_id: tid,
            }],
            &[cpu],
        )
        .unwrap();
        assert_eq!(applied, format!("vcpu0:cpu{cpu}"));
        assert_eq!(
            allowed_cpus(),
            vec![cpu],
            "this test thread now runs only on CPU {cpu}"
        );
    }

    #[test]
    fn a_missing_socket_gives_up_at_the_deadline() {
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        let e = vcpu_threads(
            Path::new("/nonexistent/qmp.sock"),
            Instant::now() + Duration::from_millis(200),
            &stop,
        )
        .unwrap_err();
        assert!(e.contains("cannot reach"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
