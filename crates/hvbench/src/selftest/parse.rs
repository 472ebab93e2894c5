//! Readers of the reference tools' outputs (perf bench, sysbench, stress-ng, cyclictest), each
//! turning a tool's text into one figure in hvbench's unit. Pure text in, number out: the
//! place to look when a tool changes its output format.

/// A number that follows `key` on some line of `text` (`key` may be a prefix of the line's
/// text before the number, or the words just after it).
fn number_before(text: &str, suffix: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let before = line.trim().strip_suffix(suffix)?;
        before.split_whitespace().last()?.parse().ok()
    })
}

fn number_after(text: &str, key: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let at = line.find(key)? + key.len();
        line[at..].split_whitespace().next()?.parse().ok()
    })
}

/// `perf bench syscall basic` / `sched pipe`: "N usecs/op" -> ns per op.
pub(super) fn perf_usecs_per_op(outputs: &[String]) -> Option<f64> {
    number_before(outputs.first()?, "usecs/op").map(|us| us * 1e3)
}

/// `perf bench mem memcpy`: perf prints bytes copied per second with binary prefixes
/// (its print_bps divides by 1024 per step) under decimal-looking labels. STREAM counts a copy
/// as read + write: 2 x the bytes copied, in MB of 10^6 bytes.
pub(super) fn perf_memcpy_as_stream_copy(outputs: &[String]) -> Option<f64> {
    let text = outputs.first()?;
    let scales = [
        ("GB/sec", 1u64 << 30),
        ("MB/sec", 1 << 20),
        ("KB/sec", 1 << 10),
        ("bytes/sec", 1),
    ];
    scales.iter().find_map(|(label, scale)| {
        number_before(text, label).map(|v| v * *scale as f64 * 2.0 / 1e6)
    })
}

/// `sysbench cpu`: "events per second: N".
pub(super) fn sysbench_events(outputs: &[String]) -> Option<f64> {
    number_after(outputs.first()?, "events per second:")
}

pub(super) fn sysbench_speedup(outputs: &[String]) -> Option<f64> {
    let one = number_after(outputs.first()?, "events per second:")?;
    let all = number_after(outputs.get(1)?, "events per second:")?;
    (one > 0.0).then(|| all / one)
}

/// `stress-ng --stream --metrics`: read + write rate, in stress-ng's MB (2^20 bytes: its `MB`
/// is 1024 x 1024), to MB/s of 10^6 bytes.
pub(super) fn stress_ng_stream(outputs: &[String]) -> Option<f64> {
    let text = outputs.first()?;
    let read = number_before_words(text, "memory read rate")?;
    let write = number_before_words(text, "memory write rate")?;
    Some((read + write) * (1u64 << 20) as f64 / 1e6)
}

/// The number just before `words` on a `stress-ng: metrc:` line (0.15 writes
/// `stream 8693.73 memory read rate (MB per sec)`).
fn number_before_words(text: &str, words: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let at = line.find(words)?;
        line[..at].split_whitespace().last()?.parse().ok()
    })
}

/// `stress-ng --fork --metrics`: bogo ops/s (real time) -> µs per fork.
pub(super) fn stress_ng_fork(outputs: &[String]) -> Option<f64> {
    let line = outputs
        .first()?
        .lines()
        .find(|l| l.contains("metrc:") && l.split_whitespace().nth(3) == Some("fork"))?;
    // stressor, bogo ops, real time, usr time, sys time, bogo ops/s (real time), ...
    let fields: Vec<&str> = line.split_whitespace().collect();
    let per_s: f64 = fields.get(8)?.parse().ok()?;
    (per_s > 0.0).then(|| 1e6 / per_s)
}

/// `cyclictest -q`: "... Avg:   21 Max: ..." in µs.
pub(super) fn cyclictest_avg(outputs: &[String]) -> Option<f64> {
    number_after(outputs.first()?, "Avg:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Vec<String> {
        vec![text.to_string()]
    }

    #[test]
    fn perf_outputs_are_read_and_converted() {
        let syscall = "# Running 'syscall/basic' benchmark:\n# Executed 1000000 getppid() calls\n     Total time: 0.173 [sec]\n\n       0.173935 usecs/op\n        5749274 ops/sec\n";
        assert!((perf_usecs_per_op(&one(syscall)).unwrap() - 173.935).abs() < 1e-9);
        let memcpy = "# function 'default' (Default memcpy() provided by glibc)\n# Copying 64MB bytes ...\n\n       7.550498 GB/sec\n";
        let mbs = perf_memcpy_as_stream_copy(&one(memcpy)).unwrap();
        // 7.550498 GiB/s copied = 8107.2 MB/s copied; STREAM counts twice that.
        assert!(
            (mbs - 7.550498 * 1073741824.0 * 2.0 / 1e6).abs() < 1e-6,
            "{mbs}"
        );
    }

    #[test]
    fn sysbench_stress_ng_and_cyclictest_outputs_are_read() {
        let sb = |eps: &str| {
            format!("CPU speed:\n    events per second:  {eps}\n\nGeneral statistics:\n")
        };
        assert_eq!(sysbench_events(&one(&sb("4397.35"))), Some(4397.35));
        let s = sysbench_speedup(&[sb("1000"), sb("1950")]).unwrap();
        assert!((s - 1.95).abs() < 1e-12);
        let stream = "stress-ng: metrc: [15038] stream              8693.73 memory read rate (MB per sec) (geometic mean of 1 instances)\nstress-ng: metrc: [15038] stream              5795.82 memory write rate (MB per sec) (geometic mean of 1 instances)\n";
        let v = stress_ng_stream(&one(stream)).unwrap();
        assert!((v - (8693.73 + 5795.82) * 1.048576).abs() < 1e-6, "{v}");
        let fork = "stress-ng: metrc: [16371] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s CPU used per       RSS Max\nstress-ng: metrc: [16371] fork               4787      3.00      0.98      0.96      1595.63        2467.18        64.67          2596\n";
        assert!((stress_ng_fork(&one(fork)).unwrap() - 1e6 / 1595.63).abs() < 1e-9);
        let cyc =
            "T: 0 ( 1995) P: 1 I:100 C:  10000 Min:      8 Act:   26 Avg:   19 Max:     428\n";
        assert_eq!(cyclictest_avg(&one(cyc)), Some(19.0));
        assert_eq!(cyclictest_avg(&one("garbage")), None);
    }
}
