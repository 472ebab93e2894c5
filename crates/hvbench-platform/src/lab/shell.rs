//! The lab's shell scripts made for one machine: each is a `.sh` file beside this one, loaded
//! with `include_str!`, whose `@NAME@` placeholders [`fill`] replaces; [`sh_word`] quotes what
//! goes in.

use std::os::unix::ffi::OsStrExt;

/// `s` as one word of POSIX shell, single-quoted (bytes as they are: paths need not be UTF-8).
pub(super) fn sh_word(s: &std::ffi::OsStr) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// `template` with each `@NAME@` of `values` replaced by its bytes, in one pass (what a value
/// holds is never read as a placeholder); an `@` that starts no placeholder stays as it is.
pub(super) fn fill(template: &str, values: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let after = &rest[at + 1..];
        let found = values.iter().find(|(name, _)| {
            after
                .strip_prefix(name)
                .is_some_and(|tail| tail.starts_with('@'))
        });
        match found {
            Some((name, value)) => {
                out.extend_from_slice(value);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push(b'@');
                rest = after;
            }
        }
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_single_quoted() {
        assert_eq!(sh_word("a b".as_ref()), b"'a b'");
        assert_eq!(sh_word("it's".as_ref()), b"'it'\\''s'");
    }

    #[test]
    fn placeholders_are_filled_once_and_others_kept() {
        let out = fill(
            "a=@A@ b=@AB@ @A@ mail@host @C@",
            &[("A", b"@AB@"), ("AB", b"2")],
        );
        assert_eq!(out, b"a=@AB@ b=2 @AB@ mail@host @C@");
    }
}
