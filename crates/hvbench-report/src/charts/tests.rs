//! Unit tests of the chart building blocks shared across files: the scales and their ticks,
//! the heat map's colour ramp, escaping and factor labels.

use super::heat_map::heat;
use super::svg::{escape, factor_label, LinScale, LogScale};

#[test]
fn scales_and_ticks() {
    let s = LogScale::new(0.5, 20.0, 0.0, 100.0);
    assert_eq!(s.ticks(), [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
    assert!((s.at(0.5) - 0.0).abs() < 1e-9 && (s.at(20.0) - 100.0).abs() < 1e-9);
    let l = LinScale::new(0.0, 100.0, 0.0, 110.0);
    assert_eq!(l.ticks(), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
    assert_eq!(heat(0.0), "#ffffff");
    assert_eq!(heat(100.0), "#c82828");
    assert_eq!(heat(250.0), "#c82828");
    assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    assert_eq!(factor_label(0.5), "1/2.0");
    assert_eq!(factor_label(2.0), "2.0x");
}
