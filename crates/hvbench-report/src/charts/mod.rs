//! Charts for the HTML report, as self-contained SVG (no script, no external resource): overhead
//! against the baseline with interval whiskers, memory latency against working-set size, the
//! isolation matrix, and every sample as a strip plot.
//!
//! Every data mark carries `class="mark ..."` and `data-*` attributes, so that a test (or a
//! reader's tool) can find what was drawn.
//!
//! This file holds the entry point and the platform palette; `svg` the drawing primitives and
//! scales; each chart has a file of its own.

pub(crate) mod exits;
mod heat_map;
mod memory_latency;
mod overhead;
mod strips;
mod svg;
#[cfg(test)]
mod tests;

pub(crate) use heat_map::isolation_heat_map;
pub(crate) use svg::escape;

use crate::model::Model;

/// Platform colours, by platform index (the baseline is always grey).
const PALETTE: [&str; 8] = [
    "#2f6db5", "#d9822b", "#2e9e6b", "#b8446e", "#7a5cc2", "#8c6d3f", "#3a9fb0", "#c23b22",
];
const BASELINE_COLOUR: &str = "#555555";

pub(crate) fn figures(model: &Model) -> Vec<crate::document::Block> {
    let mut out = Vec::new();
    out.extend(overhead::overhead(model));
    out.extend(memory_latency::memory_latency(model));
    out.extend(strips::strips(model));
    out.into_iter()
        .map(crate::document::Block::Figure)
        .collect()
}

pub(super) fn colour(model: &Model, platform: usize) -> &'static str {
    if model.is_baseline(platform) {
        BASELINE_COLOUR
    } else {
        PALETTE[platform % PALETTE.len()]
    }
}
