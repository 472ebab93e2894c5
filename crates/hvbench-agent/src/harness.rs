//! Timing windows and self-calibration: grow a workload's iteration count until one window
//! lasts at least the plan's minimum, so that the clock's resolution and the cost of reading
//! it are negligible against what is measured (the approach of kvm-unit-tests' vmexit).

use crate::workloads::Workload;
use std::fmt;
use std::time::{Duration, Instant};

/// The first window of a calibration runs this many iterations.
const START_ITERATIONS: u64 = 1;
/// Each calibration step grows the count at least this much...
const MIN_GROWTH: f64 = 2.0;
/// ...and at most this much, so that one window timed while the machine was briefly idle
/// (or the clock barely ticked) cannot send the next one far past the target.
const MAX_GROWTH: f64 = 100.0;
/// Aim a little past the target so that the step which should reach it does.
const OVERSHOOT: f64 = 1.2;
/// A count this large that still cannot fill a window means the loop does no real work.
const MAX_ITERATIONS: u64 = 1 << 48;

/// One timed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub iterations: u64,
    pub elapsed: Duration,
}

impl Window {
    /// The window's length in nanoseconds, as the `Sample` frame carries it.
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Run `iterations` iterations of `workload` and time them with the monotonic clock.
pub fn time_window(workload: &mut dyn Workload, iterations: u64) -> Window {
    let start = Instant::now();
    workload.run(iterations);
    let elapsed = start.elapsed();
    Window {
        iterations,
        elapsed,
    }
}

/// Calibration never reached the target window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalibrationError {
    pub target: Duration,
    pub last: Window,
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "calibration failed: {} iterations took only {:?}, short of the {:?} window \
             (the loop may have been optimised away)",
            self.last.iterations, self.last.elapsed, self.target
        )
    }
}

impl std::error::Error for CalibrationError {}

/// Grow the iteration count until one window lasts at least `min_window` (and a measurable,
/// non-zero time). Returns that window; its iteration count is the one to measure with.
pub fn calibrate(
    workload: &mut dyn Workload,
    min_window: Duration,
) -> Result<Window, CalibrationError> {
    let mut iterations = START_ITERATIONS;
    loop {
        let window = time_window(workload, iterations);
        if window.elapsed >= min_window && !window.elapsed.is_zero() {
            return Ok(window);
        }
        if iterations >= MAX_ITERATIONS {
            return Err(CalibrationError {
                target: min_window,
                last: window,
            });
        }
        iterations = next_iterations(iterations, window.elapsed, min_window);
    }
}

/// The next count to try after `iterations` (below [`MAX_ITERATIONS`]) took `elapsed`,
/// aiming at `target`.
fn next_iterations(iterations: u64, elapsed: Duration, target: Duration) -> u64 {
    debug_assert!(iterations < MAX_ITERATIONS);
    let growth = if elapsed.is_zero() {
        MAX_GROWTH
    } else {
        (target.as_secs_f64() / elapsed.as_secs_f64() * OVERSHOOT).clamp(MIN_GROWTH, MAX_GROWTH)
    };
    // The float product is exact enough here, and the conversion saturates.
    let next = (iterations as f64 * growth) as u64;
    next.clamp(iterations.saturating_add(1), MAX_ITERATIONS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Burns a little CPU per iteration, so a window's length grows with its count.
    struct Spin(u64);

    impl Workload for Spin {
        fn run(&mut self, iterations: u64) {
            let mut x = black_box(self.0);
            for _ in 0..iterations {
                for _ in 0..16 {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            self.0 = x;
        }
        fn value(&self, _iterations: u64, _elapsed: Duration) -> f64 {
            1.0
        }
    }

    /// Takes no time at all, like a loop the compiler removed.
    struct Nothing;

    impl Workload for Nothing {
        fn run(&mut self, _iterations: u64) {}
        fn value(&self, _iterations: u64, _elapsed: Duration) -> f64 {
            1.0
        }
    }

    #[test]
    fn calibrated_window_reaches_the_target() {
        let target = Duration::from_millis(20);
        let w = calibrate(&mut Spin(1), target).unwrap();
        assert!(w.elapsed >= target, "{w:?}");
        assert!(w.iterations > START_ITERATIONS);
        assert_eq!(w.elapsed_ns(), w.elapsed.as_nanos() as u64);
    }

    #[test]
    fn zero_target_still_gives_a_nonzero_window() {
        let w = calibrate(&mut Spin(1), Duration::ZERO).unwrap();
        assert!(!w.elapsed.is_zero());
    }

    #[test]
    fn a_loop_that_does_nothing_fails_calibration_instead_of_spinning() {
        let e = calibrate(&mut Nothing, Duration::from_millis(20)).unwrap_err();
        assert_eq!(e.last.iterations, MAX_ITERATIONS);
        assert!(e.to_string().contains("optimised away"));
    }

    #[test]
    fn growth_is_bounded_both_ways() {
        let target = Duration::from_millis(100);
        // Nearly there: still at least doubles.
        assert_eq!(next_iterations(10, Duration::from_millis(99), target), 20);
        // Far off or unmeasurable: at most x100.
        assert_eq!(next_iterations(10, Duration::from_nanos(1), target), 1000);
        assert_eq!(next_iterations(10, Duration::ZERO, target), 1000);
        // In between: proportional, with a little overshoot.
        let n = next_iterations(10, Duration::from_millis(10), target);
        assert!((115..=125).contains(&n), "{n}");
        // Never past the cap.
        assert_eq!(
            next_iterations(MAX_ITERATIONS - 1, Duration::ZERO, target),
            MAX_ITERATIONS
        );
    }
}
