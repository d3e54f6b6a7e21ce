//! Reading an input file as text, bounded: a file that is not a regular file (a
//! directory, `/dev/zero`), larger than the limit for its kind, or not UTF-8 is refused
//! with a located message before anything is parsed, and nothing reads without end.

use std::io::Read;
use std::path::Path;

use faultline_sim::diag::Diagnostic;

/// The largest scenario file read: scenarios are a few kilobytes.
pub const SCENARIO_BYTES_MAX: u64 = 4 << 20;
/// The largest history file read (Jepsen's and Porcupine's are at most a few MB).
pub const HISTORY_BYTES_MAX: u64 = 256 << 20;

/// The text of `path`, if it is a regular UTF-8 file of at most `max` bytes. `what`
/// names the kind of file in messages ("a scenario", "a history").
pub fn read_text(path: &Path, what: &str, max: u64) -> Result<String, Diagnostic> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Diagnostic::file(&shown, format!("cannot read {shown}: {e}")))?;
    if meta.is_dir() {
        return Err(Diagnostic::file(&shown, format!("{shown} is a folder, not {what} file"))
            .with_help(format!("give the path of {what} file inside it")));
    }
    let file = std::fs::File::open(path).map_err(|e| Diagnostic::file(&shown, format!("cannot read {shown}: {e}")))?;
    let mut bytes = Vec::new();
    // One byte past the limit tells "too large" apart from "exactly the limit", also
    // for files whose size the metadata does not know (devices, pipes).
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Diagnostic::file(&shown, format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(Diagnostic::file(
            &shown,
            format!("{shown} is larger than {} MiB, too large for {what} file", max >> 20),
        )
        .with_help(format!("is it {what} file? faultline reads at most {max} bytes of one")));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let good = &e.as_bytes()[..at];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        let mut d = Diagnostic::file(&shown, format!("{shown} is not UTF-8 text: byte {at} is not valid UTF-8"))
            .with_help(format!("{what} file is UTF-8 text; save it as UTF-8"));
        (d.line, d.column) = (line, column);
        d
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_folders_and_binary_files_are_refused_with_a_reason() {
        let d = read_text(Path::new("/dev/zero"), "a history", 1 << 10).unwrap_err();
        assert!(d.message.contains("too large"), "{d}");
        let d = read_text(Path::new("src"), "a scenario", 1 << 10).unwrap_err();
        assert!(d.message.contains("is a folder"), "{d}");
        let dir = std::env::temp_dir().join(format!("faultline-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, b"name = \"x\"\nab\xffc\n").expect("write");
        let d = read_text(&bad, "a scenario", 1 << 10).unwrap_err();
        assert_eq!((d.line, d.column), (2, 3), "{d}");
        assert!(d.message.contains("byte 13"), "{d}");
    }
}
