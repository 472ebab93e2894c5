//! The `compile` workload (docs/architecture.md, "The tools tree"): gcc 12 and make from the
//! tools tree building a fixed source tree from a Debian package, bash 5.2's example loadable
//! builtins (`bash-builtins`, kept by the tree at [`hvbench_proto::COMPILE_SOURCE`]). The
//! first `files` sources by name (of the 40 that build alone: `getconf.c` needs a header the
//! package does not ship) are each compiled with the flags of bash's own `Makefile.inc`
//! (`-O2 -fPIC -DHAVE_CONFIG_H -DSHELL`, its include directories) and linked into a shared
//! object. hvbench writes the Makefile once; each window is one `make -j JOBS` in a clean build
//! directory, timed from start to exit: seconds per build. A build that fails, or that does not
//! leave every shared object, fails the workload with make's words.

use crate::tools::{ToolError, ToolMetric};
use hvbench_proto::catalog::Better;
use hvbench_proto::COMPILE_SOURCE;
use std::path::Path;
use std::time::Duration;

/// How long one build may take before it is killed.
pub const BUILD_LIMIT: Duration = Duration::from_secs(1800);
/// The one source of the package that does not build on its own.
const NEEDS_MISSING_HEADER: &str = "getconf.c";
/// bash-builtins' headers, as `Makefile.inc` names them.
const INCLUDES: &str = "-I/usr/lib/bash -I/usr/include/bash -I/usr/include/bash/include \
                        -I/usr/include/bash/builtins";

/// The sources of a build of `files`, sorted by name, as the tree names them.
pub fn sources(tree: &Path, files: u32) -> Result<Vec<String>, String> {
    let dir = tree.join(COMPILE_SOURCE.trim_start_matches('/'));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| {
            format!(
                "the tools tree has no compile sources at {}: {e}",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".c") && n != NEEDS_MISSING_HEADER)
        .collect();
    names.sort();
    let want = files as usize;
    if names.len() < want {
        return Err(format!(
            "{files} files asked for, the tree holds {} that build",
            names.len()
        ));
    }
    names.truncate(want);
    Ok(names)
}

/// Write `work/Makefile` for `files` of the sources.
pub fn write_makefile(tree: &Path, files: u32, work: &Path) -> Result<(), String> {
    let names = sources(tree, files)?;
    let objects: Vec<String> = names
        .iter()
        .map(|n| format!("{}.so", n.trim_end_matches(".c")))
        .collect();
    let text = format!(
        "# Written by hvbench: the compile workload (see its catalog entry).\n\
         CFLAGS = -O2 -fPIC -DHAVE_CONFIG_H -DSHELL {INCLUDES}\n\
         SRC = {COMPILE_SOURCE}\n\
         all: {}\n\
         %.so: $(SRC)/%.c\n\
         \tgcc $(CFLAGS) -c $< -o $*.o\n\
         \tgcc -shared -o $@ $*.o\n",
        objects.join(" ")
    );
    std::fs::write(work.join("Makefile"), text)
        .map_err(|e| format!("cannot write the Makefile: {e}"))?;
    std::fs::write(work.join("objects"), objects.join("\n"))
        .map_err(|e| format!("cannot write the object list: {e}"))
}

/// make's command line: the build directory is the run's `/tmp/build`.
pub fn make_argv(jobs: u32) -> Vec<String> {
    [
        "make",
        "-s",
        "-j",
        &jobs.to_string(),
        "-C",
        "/tmp/build",
        "-f",
        "/tmp/Makefile",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A clean build directory in the run's `/tmp`.
pub fn clean(work: &Path) -> Result<(), String> {
    let build = work.join("build");
    if build.exists() {
        std::fs::remove_dir_all(&build)
            .map_err(|e| format!("cannot clean {}: {e}", build.display()))?;
    }
    std::fs::create_dir(&build).map_err(|e| format!("cannot make {}: {e}", build.display()))
}

/// After a build that exited 0: every shared object is there; the build's wall time.
pub fn check_build(work: &Path, elapsed: Duration) -> Result<Vec<ToolMetric>, ToolError> {
    let list = std::fs::read_to_string(work.join("objects")).unwrap_or_default();
    let missing: Vec<&str> = list
        .lines()
        .filter(|o| !work.join("build").join(o).is_file())
        .collect();
    if list.is_empty() || !missing.is_empty() {
        return Err(ToolError::Missing {
            tool: "make",
            field: format!("shared objects {}", missing.join(", ")),
        });
    }
    Ok(vec![ToolMetric::new(
        "build-time",
        "s",
        Better::Lower,
        elapsed.as_secs_f64(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_makefile_builds_the_first_files_by_name_and_a_short_build_is_an_error() {
        let tree = super::super::chroot::WorkDir::new().unwrap();
        let src = tree.path().join(COMPILE_SOURCE.trim_start_matches('/'));
        std::fs::create_dir_all(&src).unwrap();
        for n in ["tee.c", "cat.c", "getconf.c", "head.c", "README"] {
            std::fs::write(src.join(n), "").unwrap();
        }
        assert_eq!(sources(tree.path(), 2).unwrap(), ["cat.c", "head.c"]);
        assert!(sources(tree.path(), 4).unwrap_err().contains("holds 3"));
        let work = super::super::chroot::WorkDir::new().unwrap();
        write_makefile(tree.path(), 2, work.path()).unwrap();
        let mk = std::fs::read_to_string(work.path().join("Makefile")).unwrap();
        assert!(mk.contains("all: cat.so head.so\n"), "{mk}");
        assert!(mk.contains("\tgcc $(CFLAGS) -c $< -o $*.o\n"), "{mk}");
        clean(work.path()).unwrap();
        std::fs::write(work.path().join("build/cat.so"), "").unwrap();
        let e = check_build(work.path(), Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("head.so"), "{e}");
        std::fs::write(work.path().join("build/head.so"), "").unwrap();
        let m = check_build(work.path(), Duration::from_millis(1500)).unwrap();
        assert_eq!((m[0].metric.as_str(), m[0].value), ("build-time", 1.5));
        clean(work.path()).unwrap();
        assert!(!work.path().join("build/cat.so").exists());
    }
}
