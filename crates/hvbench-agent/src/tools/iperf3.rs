//! iperf3 (Debian 12: iperf 3.12), TCP client, `--json`.
//!
//! Output format: iperf3(1) (`-J, --json`) and the JSON iperf3 prints: `start.test_start`
//! (`protocol`, `reverse`), `end.sum_sent` and `end.sum_received` (`bits_per_second`,
//! `retransmits` on the sending side), and a top-level `error` string when the test failed.
//!
//! Seen on the real tool: iperf3 3.12 exits 0 when it cannot connect in `--json` mode; only the
//! JSON's `error` says so ("unable to connect to server: Connection refused").
//!
//! Throughput is in Gbit/s (10^9 bit/s): a virtual NIC on a recent host runs at several Gbit/s
//! and loopback at tens, so Mbit/s would be five-digit numbers.

use super::{
    check_host, check_range, json_at, json_f64, parse_json, positive, ToolError, ToolMetric,
};
use hvbench_proto::catalog::Better;

const TOOL: &str = "iperf3";

/// A TCP test against an iperf3 server (`iperf3 -s`) that someone else started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iperf3Params {
    /// The server's host name or address.
    pub server: String,
    /// Default 5201, iperf3's.
    pub port: u16,
    /// Default 10 s.
    pub duration_s: u32,
    /// `--reverse`: the server sends, the client receives. Default false.
    pub reverse: bool,
}

impl Iperf3Params {
    /// The defaults against `server`.
    pub fn new(server: impl Into<String>) -> Self {
        Iperf3Params {
            server: server.into(),
            port: 5201,
            duration_s: 10,
            reverse: false,
        }
    }

    /// The command line, `iperf3` first.
    pub fn argv(&self) -> Result<Vec<String>, ToolError> {
        check_host(TOOL, "server", &self.server)?;
        check_range(TOOL, "port", self.port, 1, u16::MAX)?;
        check_range(TOOL, "duration_s", self.duration_s, 1, 86_400)?;
        let mut argv = vec![
            "iperf3".to_string(),
            "--client".to_string(),
            self.server.clone(),
            "--port".to_string(),
            self.port.to_string(),
            "--time".to_string(),
            self.duration_s.to_string(),
            "--json".to_string(),
        ];
        if self.reverse {
            argv.push("--reverse".to_string());
        }
        Ok(argv)
    }
}

/// Parse iperf3's JSON of a TCP test. The metrics are named by the direction the data went:
/// `up-` when the client sent (a plain test), `down-` when the server sent (`--reverse`, read
/// from `start.test_start.reverse`); then `sent` and `received` (Gbit/s, `end.sum_sent` and
/// `end.sum_received`), and `retransmits` (count, on the sending side) when iperf3 gives it.
/// An `error` in the JSON is [`ToolError::Reported`] with iperf3's words.
pub fn parse(output: &str) -> Result<Vec<ToolMetric>, ToolError> {
    let json = parse_json(TOOL, output)?;
    if let Some(error) = json.get("error") {
        let message = match error.as_str() {
            Some(s) => s.to_string(),
            None => error.to_string(),
        };
        return Err(ToolError::Reported {
            tool: TOOL,
            message,
        });
    }
    let protocol = json_at(TOOL, &json, &["start", "test_start", "protocol"])?;
    if protocol.as_str() != Some("TCP") {
        return Err(ToolError::Format {
            tool: TOOL,
            detail: format!("a {protocol} test where TCP was expected"),
        });
    }
    let reverse = json_f64(TOOL, &json, &["start", "test_start", "reverse"])?;
    let direction = match reverse {
        0.0 => "up",
        1.0 => "down",
        r => {
            return Err(ToolError::BadValue {
                tool: TOOL,
                field: "`start.test_start.reverse`".to_string(),
                value: r.to_string(),
                reason: "neither 0 nor 1",
            })
        }
    };
    let mut metrics = Vec::new();
    for sum in ["sum_sent", "sum_received"] {
        let bps = json_f64(TOOL, &json, &["end", sum, "bits_per_second"])?;
        let bps = positive(TOOL, &format!("end.{sum}.bits_per_second"), bps)?;
        let name = if sum == "sum_sent" {
            "sent"
        } else {
            "received"
        };
        metrics.push(ToolMetric::new(
            format!("{direction}-{name}"),
            "Gbit/s",
            Better::Higher,
            bps / 1e9,
        ));
    }
    if json_at(TOOL, &json, &["end", "sum_sent", "retransmits"]).is_ok() {
        let r = json_f64(TOOL, &json, &["end", "sum_sent", "retransmits"])?;
        if !r.is_finite() || r < 0.0 {
            return Err(ToolError::BadValue {
                tool: TOOL,
                field: "`end.sum_sent.retransmits`".to_string(),
                value: r.to_string(),
                reason: "not a count",
            });
        }
        metrics.push(ToolMetric::new(
            format!("{direction}-retransmits"),
            "count",
            Better::Lower,
            r,
        ));
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{cuts, fixture};

    #[test]
    fn plain_test() {
        let text = fixture("iperf3-tcp.json");
        let m = parse(&text).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.metric.as_str()).collect();
        assert_eq!(names, ["up-sent", "up-received", "up-retransmits"]);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let sent = json["end"]["sum_sent"]["bits_per_second"].as_f64().unwrap();
        assert_eq!(m[0].value, sent / 1e9);
        assert_eq!(m[0].unit, "Gbit/s");
        assert_eq!(m[2].value, 43.0);
        assert_eq!(m[2].better, Better::Lower);
    }

    #[test]
    fn reverse_test() {
        let m = parse(&fixture("iperf3-tcp-reverse.json")).unwrap();
        let names: Vec<&str> = m.iter().map(|m| m.metric.as_str()).collect();
        assert_eq!(names, ["down-sent", "down-received", "down-retransmits"]);
        assert!(m[0].value > 0.1 && m[1].value > 0.1, "{m:?}");
    }

    #[test]
    fn connection_refused_is_iperf3s_error() {
        let err = parse(&fixture("iperf3-error-refused.json")).unwrap_err();
        assert_eq!(
            err,
            ToolError::Reported {
                tool: "iperf3",
                message: "unable to connect to server: Connection refused".to_string()
            }
        );
        assert!(err.to_string().contains("Connection refused"));
    }

    #[test]
    fn cut_short_garbage_and_empty_are_errors() {
        for name in ["iperf3-tcp.json", "iperf3-tcp-reverse.json"] {
            let text = fixture(name);
            for cut in cuts(&text) {
                assert!(
                    parse(cut).is_err(),
                    "{name} parsed when cut at {}",
                    cut.len()
                );
            }
        }
        assert_eq!(parse(""), Err(ToolError::Empty { tool: "iperf3" }));
        assert!(matches!(
            parse("iperf3: error - unable to connect"),
            Err(ToolError::Format { .. })
        ));
        assert!(matches!(
            parse(&fixture("fio-randread.json")),
            Err(ToolError::Missing { .. })
        ));
    }

    #[test]
    fn zero_throughput_and_udp_are_errors() {
        let mut json: serde_json::Value =
            serde_json::from_str(&fixture("iperf3-tcp.json")).unwrap();
        json["end"]["sum_received"]["bits_per_second"] = 0.0.into();
        assert!(matches!(
            parse(&json.to_string()),
            Err(ToolError::BadValue { .. })
        ));
        json["start"]["test_start"]["protocol"] = "UDP".into();
        assert!(matches!(
            parse(&json.to_string()),
            Err(ToolError::Format { .. })
        ));
    }

    #[test]
    fn argv_defaults_and_bad_values() {
        assert_eq!(
            Iperf3Params::new("10.0.2.2").argv().unwrap(),
            ["iperf3", "--client", "10.0.2.2", "--port", "5201", "--time", "10", "--json"]
        );
        let mut p = Iperf3Params::new("127.0.0.1");
        p.port = 5299;
        p.duration_s = 2;
        p.reverse = true;
        assert_eq!(
            p.argv().unwrap(),
            [
                "iperf3",
                "--client",
                "127.0.0.1",
                "--port",
                "5299",
                "--time",
                "2",
                "--json",
                "--reverse"
            ]
        );
        for (server, port, duration) in [
            ("", 5201, 10),
            ("-s", 5201, 10),
            ("a b", 5201, 10),
            ("h", 0, 10),
            ("h", 5201, 0),
            ("h", 5201, 86_401),
        ] {
            let p = Iperf3Params {
                server: server.to_string(),
                port,
                duration_s: duration,
                reverse: false,
            };
            assert!(matches!(p.argv(), Err(ToolError::Param { .. })), "{p:?}");
        }
    }
}
