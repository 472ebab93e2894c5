//! SVG primitives every chart draws with: escaping, attribute numbers, the `<svg>` opening,
//! text and lines, the logarithmic and linear scales, and tick labels. Nothing here knows
//! about the report's model.

use crate::format;
use std::fmt::Write;

pub(super) const WIDTH: f64 = 960.0;

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for an SVG attribute.
pub(super) fn n(x: f64) -> String {
    format!("{:.1}", if x.is_finite() { x } else { 0.0 })
}

pub(super) fn svg_open(out: &mut String, height: f64, label: &str) {
    svg_open_sized(out, WIDTH, height, label);
}

pub(super) fn svg_open_sized(out: &mut String, width: f64, height: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{l}"><title>{l}</title>"#,
        w = n(width),
        h = n(height),
        l = escape(label)
    );
}

pub(super) fn text(out: &mut String, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="{anchor}" class="{class}">{}</text>"#,
        n(x),
        n(y),
        escape(s)
    );
}

pub(super) fn line(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), class: &str) {
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" class="{class}"/>"#,
        n(x1),
        n(y1),
        n(x2),
        n(y2)
    );
}

/// A logarithmic axis from `lo` to `hi` (both > 0) onto `[x0, x1]`.
#[derive(Clone, Copy)]
pub(super) struct LogScale {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LogScale {
    pub(super) fn new(lo: f64, hi: f64, x0: f64, x1: f64) -> LogScale {
        let (lo, hi) = if hi / lo < 1.5 {
            (lo / 1.25, hi * 1.25)
        } else {
            (lo, hi)
        };
        LogScale { lo, hi, x0, x1 }
    }

    pub(super) fn at(&self, v: f64) -> f64 {
        let v = v.clamp(self.lo, self.hi);
        self.x0 + (v / self.lo).ln() / (self.hi / self.lo).ln() * (self.x1 - self.x0)
    }

    /// 1-2-5 ticks within the range.
    pub(super) fn ticks(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = 10f64.powf(self.lo.log10().floor());
        while decade <= self.hi {
            for m in [1.0, 2.0, 5.0] {
                let t = decade * m;
                if t >= self.lo && t <= self.hi {
                    out.push(t);
                }
            }
            decade *= 10.0;
        }
        out
    }
}

/// A linear axis with "nice" ticks.
#[derive(Clone, Copy)]
pub(super) struct LinScale {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LinScale {
    pub(super) fn new(lo: f64, hi: f64, x0: f64, x1: f64) -> LinScale {
        let (lo, hi) = if hi > lo {
            let pad = (hi - lo) * 0.05;
            (lo - pad, hi + pad)
        } else {
            let pad = lo.abs().max(1.0) * 0.05;
            (lo - pad, hi + pad)
        };
        LinScale { lo, hi, x0, x1 }
    }

    pub(super) fn at(&self, v: f64) -> f64 {
        self.x0 + (v - self.lo) / (self.hi - self.lo) * (self.x1 - self.x0)
    }

    /// Steps of 1, 2 or 5 times a power of ten, at most 8 per range.
    pub(super) fn ticks(&self) -> Vec<f64> {
        let span = self.hi - self.lo;
        let mag = 10f64.powf((span / 5.0).log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| span / s <= 8.0)
            .unwrap_or(mag * 10.0);
        let mut t = (self.lo / step).ceil() * step;
        let mut out = Vec::new();
        while t <= self.hi && out.len() < 12 {
            out.push(t);
            t += step;
        }
        out
    }
}

pub(super) fn factor_label(t: f64) -> String {
    if t >= 1.0 {
        format!("{}x", format::sig(t, 2))
    } else {
        format!("1/{}", format::sig(1.0 / t, 2))
    }
}

pub(super) fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => format!("{b}"),
    }
}
