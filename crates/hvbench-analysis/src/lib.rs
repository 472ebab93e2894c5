//! hvbench's statistics: pure functions on slices of samples, no I/O.
//!
//! - [`summarize`]: median with a percentile-bootstrap confidence interval, plus mean, sample
//!   standard deviation, coefficient of variation, range.
//! - [`ratio_of_medians`]: a platform's median over the baseline's, with a bootstrap interval.
//! - [`mad_outliers`]: outliers by the modified z-score (reported, never dropped here).
//!
//! NaN and ±infinity are not measurements: every function ignores them (a [`Summary`]'s `n`
//! counts only finite values), and returns `None` when nothing finite is left.
//!
//! Every interval is reproducible: resampling draws from a seeded SplitMix64 generator
//! ([`BootstrapConfig::seed`]), so the same data and configuration give the same interval on
//! every machine.

mod bootstrap;
mod descriptive;
mod outliers;
mod rng;

pub use bootstrap::{ratio_of_medians, summarize, BootstrapConfig, Interval, Ratio, Summary};
pub use descriptive::median;
pub use outliers::{mad_outliers, DEFAULT_MAD_THRESHOLD};
