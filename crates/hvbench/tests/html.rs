//! The HTML report of a real run (the bare host and a real QEMU guest, TCG where KVM is not
//! usable) as a person sees it: rendered by headless Chromium, screenshotted, and checked for
//! charts that hold data and a page that is not blank.
//!
//! Chromium comes from Debian's `chromium` package (`scripts/setup.sh` installs it). Without it
//! the test says so and skips, except under CI (`CI` set), where it must be there.
//! `HVBENCH_SCREENSHOT=PATH` keeps the screenshot (docs/report.png is made this way).

mod common;
use common::{hvbench, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"
name = "html"
repetitions = 3
warmup = 1
samples = 2
min_window_ms = 50
seed = 11

[guest]
vcpus = 1
memory_mib = 512
timeout_s = 300

[[platform]]
name = "host"
driver = "host"

[[platform]]
name = "vm"
driver = "qemu"
accel = "auto"

[[workload]]
name = "cpu-int"

[[workload]]
name = "syscall"

[[workload]]
name = "mem-bandwidth"
kernel = "triad"
size_mib = 16
"#;

/// Chromium on PATH (or `HVBENCH_CHROMIUM`).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HVBENCH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// `<svg class="chart" ...>...</svg>` elements of a page.
fn charts(page: &str) -> Vec<&str> {
    page.match_indices("<svg class=\"chart\"")
        .map(|(i, _)| &page[i..i + page[i..].find("</svg>").expect("closed svg")])
        .collect()
}

/// Headless Chromium's screenshot of `page`, as DESIGN's recipe takes it; killed after 120 s.
fn screenshot(chrome: &Path, page: &Path, png: &Path, profile: &Path) -> Result<(), String> {
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,2000")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", chrome.display()))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if png.is_file() {
                Ok(())
            } else {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                Err(format!(
                    "chromium exited {status} without a screenshot:\n{err}"
                ))
            };
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("chromium took more than 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Decoded RGB(A) pixels: (width, height, channels, bytes).
fn decode(png_path: &Path) -> (u32, u32, usize, Vec<u8>) {
    let file = std::fs::File::open(png_path).expect("open the screenshot");
    let mut reader = png::Decoder::new(file).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    buf.truncate(info.buffer_size());
    (info.width, info.height, channels, buf)
}

#[test]
fn html_report_of_a_real_run_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("html.toml"), SPEC).unwrap();
    let out = hvbench(
        &["run", "html.toml", "--db", "h.db", "--report", "rep"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));

    // The report directory has the HTML page and the summary CSV beside the others.
    let page_path = dir.path().join("rep/report.html");
    let page = std::fs::read_to_string(&page_path).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("rep/summary.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 3 * 2,
        "3 metrics x 2 platforms:\n{csv}"
    );
    for banned in ["<script", "http://", "https://", "<link"] {
        assert!(!page.contains(banned), "{banned} in a self-contained page");
    }
    // Charts with data marks: the overhead chart has one dot and whisker per guest metric, the
    // strip plot one dot per measured sample (3 rounds x 2 windows x 3 metrics x 2 platforms).
    let svgs = charts(&page);
    let overhead = svgs
        .iter()
        .find(|s| s.contains("aria-label=\"Overhead against host"))
        .expect("an overhead chart");
    assert_eq!(overhead.matches("class=\"mark point\"").count(), 3);
    assert_eq!(overhead.matches("class=\"mark whisker\"").count(), 3);
    let strips = svgs
        .iter()
        .find(|s| s.contains("aria-label=\"Every measured sample"))
        .expect("a strip plot");
    assert_eq!(strips.matches("class=\"mark sample\"").count(), 36);
    assert!(page.contains("<h2 id=\"summary\">Summary</h2>"));
    assert!(page.contains("Reproducibility manifest") && page.contains("name = &quot;html&quot;"));

    // `hvbench report --format html` gives the same page; `compare` reads two stored runs.
    let again = hvbench(
        &[
            "report",
            "--db",
            "h.db",
            "--format",
            "html",
            "--out",
            "again.html",
        ],
        dir.path(),
    );
    assert!(again.status.success(), "{}", text(&again));
    assert!(std::fs::read_to_string(dir.path().join("again.html"))
        .unwrap()
        .contains("Overhead against host"));
    let cmp = hvbench(&["compare", "1", "html", "--db", "h.db"], dir.path());
    assert!(cmp.status.success(), "{}", text(&cmp));
    let cmp_text = String::from_utf8_lossy(&cmp.stdout);
    assert!(cmp_text.contains("hvbench compare: run 1 (html) -> run 1 (html)"));
    assert!(cmp_text.contains("no significant difference"), "{cmp_text}");

    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is needed under CI: apt-get install chromium (scripts/setup.sh)"
        );
        eprintln!("SKIPPED the Chromium half of this test: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let png_path = dir.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    screenshot(&chrome, &page_path, &png_path, profile.path()).unwrap();
    if let Some(keep) = std::env::var_os("HVBENCH_SCREENSHOT") {
        std::fs::copy(&png_path, keep).unwrap();
    }

    let (w, h, channels, px) = decode(&png_path);
    assert_eq!((w, h), (1200, 2000));
    let pixels: Vec<&[u8]> = px.chunks(channels).collect();
    let ink = pixels
        .iter()
        .filter(|p| p[..3].iter().any(|&c| c < 200))
        .count();
    // Saturated pixels (a channel spread above 80) come from the charts' platform colours and
    // the warning banner's edge, never from text in greys or the pale chart backgrounds; a page
    // with one guest and three metrics has about 1,400 of them.
    let colour = pixels
        .iter()
        .filter(|p| {
            let (mx, mn) = (p[..3].iter().max().unwrap(), p[..3].iter().min().unwrap());
            mx - mn > 80
        })
        .count();
    let total = pixels.len();
    assert!(
        ink > total / 50,
        "the page looks blank: {ink} dark pixels of {total}"
    );
    assert!(
        colour > 500,
        "no chart colour on the page: {colour} saturated pixels"
    );
}
