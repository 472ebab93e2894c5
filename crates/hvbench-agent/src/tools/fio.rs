//! fio (Debian 12: fio 3.33), one job, `--output-format=json`.
//!
//! Output format: fio's HOWTO, "Interpreting the output" and the JSON output section
//! (<https://fio.readthedocs.io/en/latest/fio_doc.html#json-output>): `jobs[]`, each with an
//! `error` (an errno, 0 when the job ran), `job options`, and per direction (`read`, `write`)
//! `iops`, `bw_bytes` (bytes/s), `total_ios` and `clat_ns.percentile` keyed `"50.000000"`,
//! `"99.000000"` (completion latency in ns).
//!
//! Seen on the real tool: fio 3.33 as root creates a missing parent directory of `--filename`
//! (it ran on `/nonexistent-dir/fio.dat`); a job that fails (`/etc/hostname/fio.dat`) still prints
//! the whole JSON, all zero, with the job's `error` set to the errno and the words only on
//! stderr, exit status 1.

use super::{
    check_range, json_at, json_f64, param_error, parse_json, positive, ToolError, ToolMetric,
};
use hvbench_proto::catalog::Better;
use std::str::FromStr;

const TOOL: &str = "fio";

/// fio's `--rw`: the I/O pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FioRw {
    Read,
    Write,
    #[default]
    RandRead,
    RandWrite,
    RandRw,
}

impl FioRw {
    pub fn as_str(self) -> &'static str {
        match self {
            FioRw::Read => "read",
            FioRw::Write => "write",
            FioRw::RandRead => "randread",
            FioRw::RandWrite => "randwrite",
            FioRw::RandRw => "randrw",
        }
    }

    /// Whether the pattern reads, and whether it writes.
    pub fn directions(self) -> (bool, bool) {
        match self {
            FioRw::Read | FioRw::RandRead => (true, false),
            FioRw::Write | FioRw::RandWrite => (false, true),
            FioRw::RandRw => (true, true),
        }
    }
}

impl FromStr for FioRw {
    type Err = ToolError;
    fn from_str(s: &str) -> Result<Self, ToolError> {
        Ok(match s {
            "read" => FioRw::Read,
            "write" => FioRw::Write,
            "randread" => FioRw::RandRead,
            "randwrite" => FioRw::RandWrite,
            "randrw" => FioRw::RandRw,
            _ => {
                return Err(param_error(
                    TOOL,
                    "rw",
                    format!("`{s}` is not one of read, write, randread, randwrite, randrw"),
                ))
            }
        })
    }
}

/// fio's `--ioengine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FioEngine {
    /// Synchronous `pread`/`pwrite`: one I/O in flight, `iodepth` must be 1.
    #[default]
    Psync,
    /// Linux native asynchronous I/O: `iodepth` I/Os in flight (with `direct`).
    Libaio,
}

impl FioEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            FioEngine::Psync => "psync",
            FioEngine::Libaio => "libaio",
        }
    }
}

impl FromStr for FioEngine {
    type Err = ToolError;
    fn from_str(s: &str) -> Result<Self, ToolError> {
        match s {
            "psync" => Ok(FioEngine::Psync),
            "libaio" => Ok(FioEngine::Libaio),
            _ => Err(param_error(
                TOOL,
                "ioengine",
                format!("`{s}` is not one of psync, libaio"),
            )),
        }
    }
}

/// One fio job on a file or a disk. [`FioParams::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FioParams {
    /// Default `randread`.
    pub rw: FioRw,
    /// Block size as fio reads it: digits and an optional `k`/`m` suffix (powers of 1024, fio's
    /// default `kb_base`). Default `4k`.
    pub bs: String,
    /// Default 1; above 1 only with [`FioEngine::Libaio`].
    pub iodepth: u32,
    /// Default `psync`.
    pub ioengine: FioEngine,
    /// `O_DIRECT`, bypassing the page cache. Default true.
    pub direct: bool,
    /// The size of the region (file) used, MiB. Default 256.
    pub size_mib: u64,
    /// Time-based run of this many seconds. Default 10.
    pub runtime_s: u32,
    /// Whether the run lasts `runtime_s` (`--time_based`, the default) or ends when it has gone
    /// over `size_mib` once, `runtime_s` then being only its limit (a fill).
    pub time_based: bool,
    /// The file or block device. fio creates a missing file (and, as root, its directories).
    pub filename: String,
}

impl FioParams {
    /// The defaults on `filename`.
    pub fn new(filename: impl Into<String>) -> Self {
        FioParams {
            rw: FioRw::default(),
            bs: "4k".to_string(),
            iodepth: 1,
            ioengine: FioEngine::default(),
            direct: true,
            size_mib: 256,
            runtime_s: 10,
            time_based: true,
            filename: filename.into(),
        }
    }

    /// The block size in bytes, checked.
    pub fn bs_bytes(&self) -> Result<u64, ToolError> {
        let s = self.bs.trim();
        let (digits, mult) = match s.char_indices().last() {
            Some((i, 'k' | 'K')) => (&s[..i], 1024),
            Some((i, 'm' | 'M')) => (&s[..i], 1024 * 1024),
            _ => (s, 1),
        };
        let bad = || {
            param_error(
                TOOL,
                "bs",
                format!("`{}` is not a block size such as 512, 4k or 1m", self.bs),
            )
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let bytes = n.checked_mul(mult).ok_or_else(bad)?;
        if !(512..=64 * 1024 * 1024).contains(&bytes) {
            return Err(param_error(
                TOOL,
                "bs",
                format!("`{}` is out of range, allowed 512 to 64m", self.bs),
            ));
        }
        if self.direct && bytes % 512 != 0 {
            return Err(param_error(
                TOOL,
                "bs",
                format!(
                    "`{}` is not a multiple of 512 bytes, which direct I/O needs",
                    self.bs
                ),
            ));
        }
        Ok(bytes)
    }

    /// The command line, `fio` first.
    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        let bs = self.bs_bytes()?;
        check_range(TOOL, "iodepth", self.iodepth, 1, 1024)?;
        if self.ioengine == FioEngine::Psync && self.iodepth > 1 {
            return Err(param_error(
                TOOL,
                "iodepth",
                format!(
                    "{} with ioengine psync, a synchronous engine that keeps one I/O in flight; \
                     use ioengine libaio for a deeper queue",
                    self.iodepth
                ),
            ));
        }
        check_range(TOOL, "size_mib", self.size_mib, 1, 16 * 1024 * 1024)?;
        if self.size_mib * 1024 * 1024 < bs {
            return Err(param_error(
                TOOL,
                "size_mib",
                format!(
                    "{} MiB is smaller than one block ({})",
                    self.size_mib, self.bs
                ),
            ));
        }
        check_range(TOOL, "runtime_s", self.runtime_s, 1, 86_400)?;
        if self.filename.is_empty() {
            return Err(param_error(
                TOOL,
                "filename",
                "empty; give the file or device to test",
            ));
        }
        if self.filename.chars().any(char::is_control) {
            return Err(param_error(
                TOOL,
                "filename",
                format!(
                    "`{}` holds control characters",
                    self.filename.escape_debug()
                ),
            ));
        }
        // fio reads `:` in a filename as a separator of several files; the HOWTO's `filename`:
        // "escape the colon with a '\' character" (by-path device names hold colons).
        let filename = self.filename.replace(':', "\\:");
        let mut argv = vec![
            "fio".to_string(),
            "--name=hvbench".to_string(),
            format!("--filename={filename}"),
            format!("--rw={}", self.rw.as_str()),
            format!("--bs={bs}"),
            format!("--iodepth={}", self.iodepth),
            format!("--ioengine={}", self.ioengine.as_str()),
            format!("--direct={}", u8::from(self.direct)),
            format!("--size={}M", self.size_mib),
            format!("--runtime={}", self.runtime_s),
        ];
        if self.time_based {
            argv.push("--time_based".to_string());
        }
        argv.push("--output-format=json".to_string());
        Ok(argv)
    }
}

/// Parse fio's JSON (one job). The job's `rw` option says which directions to report; for each,
/// `read-` or `write-` then: `iops` (IOPS), `bandwidth` (MiB/s, from `bw_bytes`), `clat-p50` and
/// `clat-p99` (µs, completion latency). A job with an `error` is [`ToolError::Reported`] with the
/// errno's words; a direction with no I/O completed is an error.
pub fn parse(output: &str) -> Result<Vec<ToolMetric>, ToolError> {
    let json = parse_json(TOOL, output)?;
    let jobs = json_at(TOOL, &json, &["jobs"])?
        .as_array()
        .ok_or_else(|| ToolError::Format {
            tool: TOOL,
            detail: "`jobs` is not a list".to_string(),
        })?;
    let job = match jobs.as_slice() {
        [job] => job,
        [] => {
            return Err(ToolError::Missing {
                tool: TOOL,
                field: "job (`jobs` is empty)".to_string(),
            })
        }
        more => {
            return Err(ToolError::Format {
                tool: TOOL,
                detail: format!("{} jobs where one was run", more.len()),
            })
        }
    };
    let errno = json_f64(TOOL, job, &["error"])?;
    if errno != 0.0 {
        let name = job.get("jobname").and_then(|n| n.as_str()).unwrap_or("?");
        let words = if errno.fract() == 0.0 && errno > 0.0 && errno < f64::from(i32::MAX) {
            std::io::Error::from_raw_os_error(errno as i32).to_string()
        } else {
            format!("error {errno}")
        };
        return Err(ToolError::Reported {
            tool: TOOL,
            message: format!("job `{name}` failed: {words} (more on fio's stderr)"),
        });
    }
    let rw = json_at(TOOL, job, &["job options", "rw"])?;
    let rw: FioRw = rw
        .as_str()
        .ok_or_else(|| ToolError::BadValue {
            tool: TOOL,
            field: "`job options.rw`".to_string(),
            value: rw.to_string(),
            reason: "not a string",
        })?
        .parse()
        .map_err(|_| ToolError::Format {
            tool: TOOL,
            detail: format!("the job's rw `{rw}` is none that hvbench runs"),
        })?;
    let (reads, writes) = rw.directions();
    let mut metrics = Vec::new();
    for (dir, wanted) in [("read", reads), ("write", writes)] {
        if !wanted {
            continue;
        }
        let ios = json_f64(TOOL, job, &[dir, "total_ios"])?;
        if ios <= 0.0 {
            return Err(ToolError::BadValue {
                tool: TOOL,
                field: format!("`{dir}.total_ios`"),
                value: ios.to_string(),
                reason: "no I/O completed in the run",
            });
        }
        let field = |name: &str| format!("{dir}.{name}");
        let iops = positive(TOOL, &field("iops"), json_f64(TOOL, job, &[dir, "iops"])?)?;
        let bw = positive(
            TOOL,
            &field("bw_bytes"),
            json_f64(TOOL, job, &[dir, "bw_bytes"])?,
        )?;
        let p50 = json_f64(TOOL, job, &[dir, "clat_ns", "percentile", "50.000000"])?;
        let p50 = positive(TOOL, &field("clat_ns p50"), p50)?;
        let p99 = json_f64(TOOL, job, &[dir, "clat_ns", "percentile", "99.000000"])?;
        let p99 = positive(TOOL, &field("clat_ns p99"), p99)?;
        metrics.push(ToolMetric::new(
            format!("{dir}-iops"),
            "IOPS",
            Better::Higher,
            iops,
        ));
        metrics.push(ToolMetric::new(
            format!("{dir}-bandwidth"),
            "MiB/s",
            Better::Higher,
            bw / (1024.0 * 1024.0),
        ));
        metrics.push(ToolMetric::new(
            format!("{dir}-clat-p50"),
            "µs",
            Better::Lower,
            p50 / 1000.0,
        ));
        metrics.push(ToolMetric::new(
            format!("{dir}-clat-p99"),
            "µs",
            Better::Lower,
            p99 / 1000.0,
        ));
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{cuts, fixture};

    fn value(metrics: &[ToolMetric], name: &str) -> f64 {
        metrics
            .iter()
            .find(|m| m.metric == name)
            .unwrap_or_else(|| panic!("no {name} in {metrics:?}"))
            .value
    }

    #[test]
    fn randread() {
        let m = parse(&fixture("fio-randread.json")).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.metric.as_str()).collect();
        assert_eq!(
            names,
            [
                "read-iops",
                "read-bandwidth",
                "read-clat-p50",
                "read-clat-p99"
            ]
        );
        // bw_bytes / 2^20 ~ iops * 4 KiB / 1 MiB
        let bw = value(&m, "read-bandwidth");
        assert!(
            (bw - value(&m, "read-iops") * 4.0 / 1024.0).abs() < 0.5,
            "{bw}"
        );
        assert!(value(&m, "read-clat-p50") < value(&m, "read-clat-p99"));
        assert_eq!(m[0].unit, "IOPS");
        assert_eq!(m[2].unit, "µs");
        assert_eq!(m[2].better, Better::Lower);
    }

    #[test]
    fn randwrite_and_randrw() {
        let m = parse(&fixture("fio-randwrite.json")).unwrap();
        assert_eq!(m.len(), 4);
        assert!(m.iter().all(|m| m.metric.starts_with("write-")), "{m:?}");
        let m = parse(&fixture("fio-randrw-libaio.json")).unwrap();
        assert_eq!(m.len(), 8);
        assert!(value(&m, "read-iops") > 0.0 && value(&m, "write-iops") > 0.0);
    }

    #[test]
    fn exact_values_from_the_fixture() {
        let text = fixture("fio-randread.json");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let read = &json["jobs"][0]["read"];
        let m = parse(&text).unwrap();
        assert_eq!(value(&m, "read-iops"), read["iops"].as_f64().unwrap());
        assert_eq!(
            value(&m, "read-clat-p99"),
            read["clat_ns"]["percentile"]["99.000000"].as_f64().unwrap() / 1000.0
        );
    }

    #[test]
    fn job_error_is_reported_in_words() {
        let err = parse(&fixture("fio-error-notdir.json")).unwrap_err();
        assert!(matches!(err, ToolError::Reported { .. }), "{err:?}");
        assert!(err.to_string().contains("Not a directory"), "{err}");
    }

    #[test]
    fn cut_short_garbage_and_empty_are_errors() {
        let text = fixture("fio-randread.json");
        for cut in cuts(&text) {
            assert!(parse(cut).is_err(), "parsed a cut at {}", cut.len());
        }
        assert!(matches!(
            parse(&text[..text.len() / 2]),
            Err(ToolError::Truncated { .. })
        ));
        assert_eq!(parse(""), Err(ToolError::Empty { tool: "fio" }));
        assert!(matches!(
            parse("fio: no such option --bogus\n"),
            Err(ToolError::Format { .. })
        ));
        assert!(matches!(
            parse("{\"jobs\": []}"),
            Err(ToolError::Missing { .. })
        ));
        // another tool's JSON
        assert!(matches!(
            parse(&fixture("iperf3-tcp.json")),
            Err(ToolError::Missing { .. })
        ));
    }

    #[test]
    fn zero_iops_is_an_error_not_a_value() {
        let mut json: serde_json::Value =
            serde_json::from_str(&fixture("fio-randread.json")).unwrap();
        json["jobs"][0]["read"]["iops"] = 0.0.into();
        let err = parse(&json.to_string()).unwrap_err();
        assert!(matches!(err, ToolError::BadValue { .. }), "{err:?}");
        json["jobs"][0]["read"]["clat_ns"]["percentile"]
            .as_object_mut()
            .unwrap()
            .remove("99.000000");
        json["jobs"][0]["read"]["iops"] = 10.0.into();
        assert!(matches!(
            parse(&json.to_string()),
            Err(ToolError::Missing { .. })
        ));
    }

    #[test]
    fn argv_defaults() {
        let argv = FioParams::new("/dev/vdb").argv().unwrap();
        assert_eq!(
            argv,
            [
                "fio",
                "--name=hvbench",
                "--filename=/dev/vdb",
                "--rw=randread",
                "--bs=4096",
                "--iodepth=1",
                "--ioengine=psync",
                "--direct=1",
                "--size=256M",
                "--runtime=10",
                "--time_based",
                "--output-format=json"
            ]
        );
    }

    #[test]
    fn argv_options_and_bad_values() {
        let mut p = FioParams::new("/dev/disk/by-path/pci-0000:00:04.0");
        p.rw = "randrw".parse().unwrap();
        p.ioengine = "libaio".parse().unwrap();
        p.iodepth = 32;
        p.bs = "1m".to_string();
        p.direct = false;
        let argv = p.argv().unwrap();
        assert!(argv.contains(&"--filename=/dev/disk/by-path/pci-0000\\:00\\:04.0".to_string()));
        assert!(argv.contains(&"--bs=1048576".to_string()));
        assert!(argv.contains(&"--direct=0".to_string()));
        assert!(argv.contains(&"--iodepth=32".to_string()));

        assert!("randtrim".parse::<FioRw>().is_err());
        assert!("io_uring".parse::<FioEngine>().is_err());
        let bad = |f: &dyn Fn(&mut FioParams)| {
            let mut p = FioParams::new("/data/f");
            f(&mut p);
            let err = p.argv().unwrap_err();
            assert!(matches!(err, ToolError::Param { .. }), "{err:?}");
            err
        };
        let err = bad(&|p| p.iodepth = 8);
        assert!(err.to_string().contains("libaio"), "{err}");
        bad(&|p| p.iodepth = 0);
        bad(&|p| p.bs = "4x".to_string());
        bad(&|p| p.bs = "".to_string());
        bad(&|p| p.bs = "k".to_string());
        bad(&|p| p.bs = "100".to_string());
        bad(&|p| p.bs = "99999999999999999999k".to_string());
        bad(&|p| p.bs = "1000".to_string()); // not a multiple of 512 with direct
        bad(&|p| p.size_mib = 0);
        bad(&|p| p.runtime_s = 0);
        bad(&|p| p.filename = String::new());
        bad(&|p| p.filename = "a\nb".to_string());
    }
}
