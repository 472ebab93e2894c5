//! Framing: turning messages into console lines and finding them again in a noisy stream.

use crate::crc32::crc32;
use crate::message::Message;
use std::fmt;

/// Every frame starts with these bytes, followed by the decimal protocol version.
pub const PREFIX: &[u8] = b"HVB/";
/// The protocol version this build writes and accepts.
pub const VERSION: u32 = 1;
/// The largest JSON payload a frame may carry. Larger claims are refused unread, so a
/// corrupt length cannot make the decoder buffer without bound.
pub const MAX_FRAME_BYTES: usize = 1 << 20;
/// The longest stretch without a newline the decoder buffers before it scans what it has.
const LINE_CAP: usize = 2 * MAX_FRAME_BYTES + 64;

/// Encode one message as a frame line, newline included.
pub fn encode(msg: &Message) -> Vec<u8> {
    // Serialising our own enum cannot fail: every field is a string, number or map of strings.
    let json = serde_json::to_vec(msg).expect("message serialises");
    let mut out = format!("HVB/{VERSION} {} {:08x} ", json.len(), crc32(&json)).into_bytes();
    out.extend_from_slice(&json);
    out.push(b'\n');
    out
}

/// Why a frame was not trusted.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    /// The prefix was followed by something that is not a frame header.
    BadHeader,
    /// A well-formed header from a protocol version this build does not speak.
    UnknownVersion(u32),
    /// The header claims a payload larger than [`MAX_FRAME_BYTES`].
    TooLong(usize),
    /// The line ended before the payload the header announced.
    Truncated { expected: usize, got: usize },
    /// The payload does not match its checksum.
    Checksum { expected: u32, actual: u32 },
    /// The checksum matched but the payload is not a message this build knows.
    BadMessage(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadHeader => write!(f, "malformed frame header"),
            FrameError::UnknownVersion(v) => {
                write!(f, "frame of protocol version {v}; this hvbench speaks version {VERSION} (rebuild the guest image with this hvbench)")
            }
            FrameError::TooLong(n) => write!(
                f,
                "frame claims {n} bytes, more than the limit of {MAX_FRAME_BYTES}"
            ),
            FrameError::Truncated { expected, got } => {
                write!(
                    f,
                    "truncated frame: {got} of {expected} payload bytes arrived"
                )
            }
            FrameError::Checksum { expected, actual } => {
                write!(f, "frame checksum mismatch (header says {expected:08x}, payload has {actual:08x})")
            }
            FrameError::BadMessage(e) => write!(f, "frame payload is not a known message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An intact frame.
    Frame(Message),
    /// Something that started like a frame but cannot be trusted; `excerpt` shows its start.
    Bad { error: FrameError, excerpt: String },
}

/// A streaming frame decoder. Feed it console bytes as they arrive with [`Decoder::push`];
/// call [`Decoder::finish`] at end of stream to learn about a frame cut off mid-line.
#[derive(Debug, Default)]
pub struct Decoder {
    line: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes; returns the events completed by them, in stream order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&bytes[..nl]);
            scan_line(&self.line, &mut events);
            self.line.clear();
            bytes = &bytes[nl + 1..];
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() > LINE_CAP {
            self.relieve_overflow(&mut events);
        }
        events
    }

    /// End of stream: whatever is buffered is scanned as a last line.
    pub fn finish(mut self) -> Vec<Event> {
        let mut events = Vec::new();
        scan_line(&self.line, &mut events);
        self.line.clear();
        events
    }

    /// A console that never sends a newline (a flood of garbage) must not grow the buffer
    /// without bound: scan everything before the last frame start, keep only that start.
    fn relieve_overflow(&mut self, events: &mut Vec<Event>) {
        let cut = find_last(&self.line, PREFIX).unwrap_or(self.line.len());
        if cut == 0 {
            events.push(Event::Bad {
                error: FrameError::TooLong(self.line.len()),
                excerpt: excerpt(&self.line),
            });
            self.line.clear();
            return;
        }
        scan_line(&self.line[..cut], events);
        self.line.drain(..cut);
    }
}

/// Find every frame in one line (a line never contains a newline, and neither does a frame).
/// A candidate that fails is reported and the scan resumes one byte after its start, so that
/// noise which merely looks like a frame header cannot hide a real frame behind it.
fn scan_line(line: &[u8], events: &mut Vec<Event>) {
    let mut pos = 0;
    while let Some(rel) = find(&line[pos..], PREFIX) {
        let start = pos + rel;
        match parse_at(&line[start..]) {
            Ok((msg, used)) => {
                events.push(Event::Frame(msg));
                pos = start + used;
            }
            Err(error) => {
                events.push(Event::Bad {
                    error,
                    excerpt: excerpt(&line[start..]),
                });
                pos = start + 1;
            }
        }
    }
}

/// Parse a frame at the start of `s`; returns the message and the bytes it occupied.
fn parse_at(s: &[u8]) -> Result<(Message, usize), FrameError> {
    let mut cur = Cursor {
        s,
        pos: PREFIX.len(),
    };
    let version = cur.decimal().ok_or(FrameError::BadHeader)?;
    cur.space()?;
    let len = cur.decimal().ok_or(FrameError::BadHeader)?;
    cur.space()?;
    let crc = cur.hex8().ok_or(FrameError::BadHeader)?;
    cur.space()?;
    let version = u32::try_from(version).map_err(|_| FrameError::BadHeader)?;
    if version != VERSION {
        return Err(FrameError::UnknownVersion(version));
    }
    let len = usize::try_from(len).map_err(|_| FrameError::BadHeader)?;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLong(len));
    }
    let rest = &s[cur.pos..];
    if rest.len() < len {
        return Err(FrameError::Truncated {
            expected: len,
            got: rest.len(),
        });
    }
    let payload = &rest[..len];
    let actual = crc32(payload);
    if actual != crc {
        return Err(FrameError::Checksum {
            expected: crc,
            actual,
        });
    }
    let msg = serde_json::from_slice(payload).map_err(|e| FrameError::BadMessage(e.to_string()))?;
    Ok((msg, cur.pos + len))
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn decimal(&mut self) -> Option<u64> {
        let digits = self.s[self.pos..]
            .iter()
            .take(20)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 19 {
            return None;
        }
        let text = std::str::from_utf8(&self.s[self.pos..self.pos + digits]).ok()?;
        self.pos += digits;
        text.parse().ok()
    }

    fn hex8(&mut self) -> Option<u32> {
        let field = self.s.get(self.pos..self.pos + 8)?;
        // Lower case only: one checksum has one spelling.
        if !field
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        {
            return None;
        }
        self.pos += 8;
        u32::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()
    }

    fn space(&mut self) -> Result<(), FrameError> {
        if self.s.get(self.pos) == Some(&b' ') {
            self.pos += 1;
            Ok(())
        } else {
            Err(FrameError::BadHeader)
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn excerpt(s: &[u8]) -> String {
    String::from_utf8_lossy(&s[..s.len().min(80)])
        .escape_debug()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Better;
    use proptest::prelude::*;

    fn sample(i: u32, value: f64) -> Message {
        Message::Sample {
            workload: "syscall".into(),
            metric: "latency".into(),
            unit: "ns".into(),
            better: Better::Lower,
            warmup: false,
            index: i,
            value,
            iterations: 1000,
            elapsed_ns: 200_000_000,
        }
    }

    fn frames(events: &[Event]) -> Vec<Message> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Frame(m) => Some(m.clone()),
                Event::Bad { .. } => None,
            })
            .collect()
    }

    fn decode_all(bytes: &[u8]) -> Vec<Event> {
        let mut d = Decoder::new();
        let mut ev = d.push(bytes);
        ev.extend(d.finish());
        ev
    }

    #[test]
    fn round_trip_with_kernel_noise() {
        let mut stream = b"[    0.000000] Linux version 6.1.0\r\n".to_vec();
        stream.extend(encode(&sample(0, 42.5)));
        stream.extend(b"random: crng init done\n");
        stream.extend(encode(&Message::Done {
            samples: 1,
            failures: 0,
        }));
        let ev = decode_all(&stream);
        assert_eq!(
            ev,
            vec![
                Event::Frame(sample(0, 42.5)),
                Event::Frame(Message::Done {
                    samples: 1,
                    failures: 0
                })
            ]
        );
    }

    #[test]
    fn crlf_console_translation_is_harmless() {
        let mut line = encode(&sample(3, 1.0));
        line.pop();
        line.extend(b"\r\n");
        assert_eq!(frames(&decode_all(&line)), vec![sample(3, 1.0)]);
    }

    #[test]
    fn flipped_byte_is_reported_not_trusted() {
        let mut line = encode(&sample(0, 7.0));
        let n = line.len();
        line[n - 5] ^= 0x01;
        let ev = decode_all(&line);
        assert!(
            matches!(
                ev.as_slice(),
                [Event::Bad {
                    error: FrameError::Checksum { .. },
                    ..
                }]
            ),
            "{ev:?}"
        );
    }

    #[test]
    fn truncated_frame_is_reported() {
        let line = encode(&sample(0, 7.0));
        let cut = &line[..line.len() - 10];
        let ev = decode_all(cut);
        assert!(
            matches!(
                ev.as_slice(),
                [Event::Bad {
                    error: FrameError::Truncated { .. },
                    ..
                }]
            ),
            "{ev:?}"
        );
    }

    #[test]
    fn unknown_version_is_reported() {
        let line = String::from_utf8(encode(&sample(0, 7.0)))
            .unwrap()
            .replacen("HVB/1 ", "HVB/2 ", 1);
        let ev = decode_all(line.as_bytes());
        assert!(
            matches!(
                ev.as_slice(),
                [Event::Bad {
                    error: FrameError::UnknownVersion(2),
                    ..
                }]
            ),
            "{ev:?}"
        );
    }

    #[test]
    fn oversized_claim_is_refused() {
        let line = format!("HVB/1 {} 00000000 {{}}\n", MAX_FRAME_BYTES + 1);
        let ev = decode_all(line.as_bytes());
        assert!(
            matches!(
                ev.as_slice(),
                [Event::Bad {
                    error: FrameError::TooLong(_),
                    ..
                }]
            ),
            "{ev:?}"
        );
    }

    #[test]
    fn valid_checksum_unknown_message_is_bad_message() {
        let json = br#"{"type":"no-such-message"}"#;
        let mut line = format!("HVB/1 {} {:08x} ", json.len(), crc32(json)).into_bytes();
        line.extend(json);
        let ev = decode_all(&line);
        assert!(
            matches!(
                ev.as_slice(),
                [Event::Bad {
                    error: FrameError::BadMessage(_),
                    ..
                }]
            ),
            "{ev:?}"
        );
    }

    #[test]
    fn fake_header_in_noise_does_not_hide_following_frame() {
        let mut stream = b"HVB/1 500 deadbeef ".to_vec();
        stream.extend(encode(&sample(1, 2.0)));
        let ev = decode_all(&stream);
        assert_eq!(frames(&ev), vec![sample(1, 2.0)]);
        assert!(ev.iter().any(|e| matches!(e, Event::Bad { .. })));
    }

    #[test]
    fn flood_without_newline_stays_bounded() {
        let mut d = Decoder::new();
        let junk = vec![b'x'; 1 << 16];
        for _ in 0..100 {
            d.push(&junk);
            assert!(d.line.len() <= LINE_CAP);
        }
        let ev = d.push(&encode(&sample(9, 9.0)));
        let mut all = ev;
        all.extend(d.finish());
        assert_eq!(frames(&all), vec![sample(9, 9.0)]);
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u32>(), -1e12f64..1e12).prop_map(|(i, v)| sample(i, v)),
            ".*".prop_map(|m| Message::Log { message: m }),
            (any::<u32>(), any::<u32>()).prop_map(|(s, f)| Message::Done {
                samples: s,
                failures: f
            }),
        ]
    }

    proptest! {
        /// Any byte noise around valid frames still yields exactly the valid frames, in order,
        /// however the stream is split into reads.
        #[test]
        fn noise_around_frames_yields_exactly_the_frames(
            parts in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..64), arb_message()), 0..8),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            chunk in 1usize..97,
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for (noise, msg) in &parts {
                stream.extend(noise);
                stream.extend(encode(msg));
                expected.push(msg.clone());
            }
            stream.extend(&tail);
            let mut d = Decoder::new();
            let mut ev = Vec::new();
            for c in stream.chunks(chunk) {
                ev.extend(d.push(c));
            }
            ev.extend(d.finish());
            prop_assert_eq!(frames(&ev), expected);
        }

        /// Random bytes never panic the decoder and never produce a frame.
        #[test]
        fn pure_noise_never_yields_a_frame(noise in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let ev = decode_all(&noise);
            prop_assert!(frames(&ev).is_empty());
        }

        /// A frame whose bytes were damaged anywhere is never trusted as the original.
        #[test]
        fn damaged_frame_is_never_trusted(msg in arb_message(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let mut line = encode(&msg);
            let i = at.index(line.len() - 1); // leave the newline alone
            line[i] ^= flip;
            let ev = decode_all(&line);
            prop_assert!(!frames(&ev).contains(&msg));
        }
    }
}
