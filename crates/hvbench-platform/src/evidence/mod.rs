//! Evidence on the machine that runs the guest (docs/architecture.md, "Evidence"): collectors
//! that count what the hypervisor did over each measured window the agent marks, wherever the
//! driver runs (this machine, a machine reached over SSH, a lab host).
//!
//! A driver wraps its console events in [`Counting`]: at a window's `begin` mark every
//! collector takes a snapshot (or starts tracing), at its `end` mark it counts since, and the
//! counts go upstream as `Counters` frames keyed as the window's sample. Collectors that need
//! heavy work to read their counts (Xen's trace, summarised by `xenalyze`) keep it until the
//! trial is over, so that it does not run beside the next window. Whatever a collector cannot
//! use (no tracefs, no `xentrace`) it says once in a fact and otherwise stays silent.

pub mod kvm;
pub mod parse;
pub mod xen;

use hvbench_proto::{Event, Message, WindowEdge};
use std::collections::BTreeMap;

/// The counts of one source over one window: `(source, span_ns, values)`.
pub type Counted = (String, u64, BTreeMap<String, f64>);

/// One way of counting beside a guest.
pub trait Collector: Send {
    /// A window begins: snapshot (or start counting).
    fn begin(&mut self);
    /// The window ended: what was counted since `begin`. A collector that counts later
    /// returns nothing here and everything from [`Collector::finish`].
    fn end(&mut self, window: &WindowKey) -> Vec<Counted>;
    /// The trial is over: counts kept for later, with their windows.
    fn finish(&mut self) -> Vec<(WindowKey, Counted)> {
        Vec::new()
    }
    /// Facts the collector learnt (settings in force, why it could not count), once.
    fn facts(&mut self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// A measured window, as its `Window` marks and its sample name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowKey {
    pub workload: String,
    pub metric: String,
    pub index: u32,
}

/// The collectors of one trial and the window they are counting.
#[derive(Default)]
pub struct Counting {
    collectors: Vec<Box<dyn Collector>>,
    open: Option<WindowKey>,
}

impl Counting {
    pub fn new(collectors: Vec<Box<dyn Collector>>) -> Counting {
        Counting {
            collectors,
            open: None,
        }
    }

    /// Whether anything counts (no collector: the events pass through untouched).
    pub fn is_empty(&self) -> bool {
        self.collectors.is_empty()
    }

    /// Look at one console event before it goes upstream; returns the frames to send after it.
    pub fn on_event(&mut self, ev: &Event) -> Vec<Message> {
        let Event::Frame(Message::Window {
            workload,
            metric,
            index,
            edge,
        }) = ev
        else {
            return Vec::new();
        };
        let key = WindowKey {
            workload: workload.clone(),
            metric: metric.clone(),
            index: *index,
        };
        match edge {
            WindowEdge::Begin => {
                for c in &mut self.collectors {
                    c.begin();
                }
                self.open = Some(key);
                Vec::new()
            }
            WindowEdge::End => {
                // An end without its begin (a lost frame) counts nothing.
                if self.open.take().as_ref() != Some(&key) {
                    return Vec::new();
                }
                let mut out = Vec::new();
                for c in &mut self.collectors {
                    for counted in c.end(&key) {
                        out.push(counters(&key, counted));
                    }
                }
                out
            }
        }
    }

    /// The trial is over: the counts collectors kept for later, and their facts.
    pub fn finish(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        let mut facts = BTreeMap::new();
        for c in &mut self.collectors {
            for (key, counted) in c.finish() {
                out.push(counters(&key, counted));
            }
            facts.extend(c.facts());
        }
        if !facts.is_empty() {
            out.push(Message::Facts { facts });
        }
        out
    }

    /// Run `f` (which drives the guest's console) with every event passed through
    /// [`Counting::on_event`] first; then send what [`Counting::finish`] returns.
    pub fn around<T>(
        &mut self,
        on_event: &mut dyn FnMut(Event),
        f: impl FnOnce(&mut dyn FnMut(Event)) -> T,
    ) -> T {
        if self.is_empty() {
            return f(on_event);
        }
        let result = f(&mut |ev: Event| {
            let extra = self.on_event(&ev);
            on_event(ev);
            for m in extra {
                on_event(Event::Frame(m));
            }
        });
        for m in self.finish() {
            on_event(Event::Frame(m));
        }
        result
    }
}

fn counters(key: &WindowKey, (source, span_ns, values): Counted) -> Message {
    Message::Counters {
        workload: key.workload.clone(),
        metric: key.metric.clone(),
        index: key.index,
        source,
        span_ns,
        values,
    }
}

/// Nanoseconds per clock tick of /proc's CPU times (USER_HZ).
pub(crate) fn tick_ns() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        1e9 / hz as f64
    } else {
        1e7
    }
}

/// `after - before` for every key of `after` that grew (counters only grow; a key that went
/// down was reset, and says nothing).
pub(crate) fn delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(k, &b)| {
            let a = before.get(k).copied().unwrap_or(0.0);
            (b >= a).then(|| (k.clone(), b - a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        begun: u32,
        later: Vec<(WindowKey, Counted)>,
    }

    impl Collector for Fake {
        fn begin(&mut self) {
            self.begun += 1;
        }
        fn end(&mut self, window: &WindowKey) -> Vec<Counted> {
            self.later.push((
                window.clone(),
                ("late".into(), 5, BTreeMap::from([("x".into(), 2.0)])),
            ));
            vec![(
                "now".into(),
                10,
                BTreeMap::from([("n".into(), f64::from(self.begun))]),
            )]
        }
        fn finish(&mut self) -> Vec<(WindowKey, Counted)> {
            std::mem::take(&mut self.later)
        }
        fn facts(&mut self) -> BTreeMap<String, String> {
            BTreeMap::from([("fake.ok".into(), "yes".into())])
        }
    }

    fn mark(index: u32, edge: WindowEdge) -> Event {
        Event::Frame(Message::Window {
            workload: "cpuid".into(),
            metric: "latency".into(),
            index,
            edge,
        })
    }

    #[test]
    fn counters_follow_the_end_mark_and_later_ones_come_at_the_end() {
        let mut counting = Counting::new(vec![Box::new(Fake {
            begun: 0,
            later: Vec::new(),
        })]);
        let mut seen = Vec::new();
        counting.around(&mut |ev| seen.push(ev), |on_event| {
            on_event(mark(1, WindowEdge::Begin));
            on_event(mark(1, WindowEdge::End));
            // An end whose begin was lost counts nothing.
            on_event(mark(2, WindowEdge::End));
        });
        let names: Vec<String> = seen
            .iter()
            .map(|e| match e {
                Event::Frame(Message::Window { edge, index, .. }) => format!("{edge:?}{index}"),
                Event::Frame(Message::Counters { source, index, .. }) => {
                    format!("{source}{index}")
                }
                Event::Frame(Message::Facts { facts }) => format!("facts{}", facts.len()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["Begin1", "End1", "now1", "End2", "late1", "facts1"]);
    }

    #[test]
    fn delta_keeps_only_what_grew() {
        let a = BTreeMap::from([("x".to_string(), 5.0), ("y".to_string(), 9.0)]);
        let b = BTreeMap::from([
            ("x".to_string(), 8.0),
            ("y".to_string(), 1.0),
            ("z".to_string(), 2.0),
        ]);
        let d = delta(&a, &b);
        assert_eq!(d.get("x"), Some(&3.0));
        assert_eq!(d.get("y"), None);
        assert_eq!(d.get("z"), Some(&2.0));
    }
}
