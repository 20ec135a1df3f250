//! Every path a user names, read and written safely: loadgen runs as root in CI containers, where a results path
//! may be `/dev/null`, a FIFO, a symlink, a directory or a 10 GB file.
//!
//! Reading ([`read_bytes`], [`read_text`]): only a regular file (after following symlinks) is read, and at most a
//! documented number of bytes ([`Limit`]); a FIFO, device, socket or directory is refused at once rather than
//! blocking on it or reading it for ever. The file is opened non-blocking, so a FIFO swapped in after the check
//! cannot hang the open, and checked again on the open handle.
//!
//! Writing ([`OutputFile`]): a regular file or a new path is written to a temporary file in the directory of the
//! *resolved* path and renamed over it (a reader never sees half a file; a symlink is followed and stays a symlink);
//! `-` is stdout; a character device, FIFO or socket is opened and written in place, never renamed over (which would
//! replace `/dev/null` with a regular file); a directory or block device is refused when the output is prepared,
//! before a run starts.

use std::fmt;
use std::fs::{File, FileType};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What kind of file a path is, after following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

impl Kind {
    pub fn of(t: &FileType) -> Kind {
        if t.is_dir() {
            Kind::Directory
        } else if t.is_fifo() {
            Kind::Fifo
        } else if t.is_char_device() {
            Kind::CharDevice
        } else if t.is_block_device() {
            Kind::BlockDevice
        } else if t.is_socket() {
            Kind::Socket
        } else {
            Kind::Regular
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Regular => "a regular file",
            Kind::Directory => "a directory",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Socket => "a socket",
        })
    }
}

/// The most bytes loadgen reads from one kind of input (documented in the README, "Files").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file is, for messages: "scenario file", "results file"...
    pub what: &'static str,
    pub bytes: u64,
}

const MIB: u64 = 1024 * 1024;

/// A scenario file or one it includes.
pub const SCENARIO: Limit = Limit {
    what: "scenario file",
    bytes: 8 * MIB,
};
/// A test-data CSV file.
pub const DATA: Limit = Limit {
    what: "data file",
    bytes: 1024 * MIB,
};
/// A PEM file: CA certificates, a client certificate or key.
pub const PEM: Limit = Limit {
    what: "PEM file",
    bytes: 8 * MIB,
};
/// A results file given to `report`, `compare` or `merge`.
pub const RESULTS: Limit = Limit {
    what: "results file",
    bytes: 256 * MIB,
};
/// A HAR recording given to `import har` (bodies included: a long browser session runs to tens of MB).
pub const HAR: Limit = Limit {
    what: "HAR file",
    bytes: 512 * MIB,
};
/// A locustfile given to `import locust`.
pub const LOCUSTFILE: Limit = Limit {
    what: "locustfile",
    bytes: 8 * MIB,
};

/// An output that cannot be created or written: the path as the user gave it, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Why an input could not be read. The message completes "PATH: …".
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read it: {0}")]
    Io(#[source] io::Error),
    #[error("it is {0}, not a regular file; give the path of a file")]
    NotRegular(Kind),
    #[error("it is {size} bytes, more than the {limit} bytes a {what} may have")]
    TooLarge {
        size: u64,
        limit: u64,
        what: &'static str,
    },
    #[error("it is not valid UTF-8 at line {line}, column {column}; save it as UTF-8")]
    NotUtf8 { line: u64, column: u64 },
}

/// `O_NONBLOCK` on Linux (and every Unix loadgen builds for): opening a FIFO with it never waits for a writer.
const O_NONBLOCK: i32 = 0o4000;

/// Opens the regular file at `path` for reading, refusing anything else and anything over `limit`.
pub fn open_regular(path: &Path, limit: Limit) -> Result<File, ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    let kind = Kind::of(&meta.file_type());
    if kind != Kind::Regular {
        return Err(ReadError::NotRegular(kind));
    }
    let file = File::options()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    // Again on what was opened: the path may have changed since.
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = Kind::of(&meta.file_type());
    if kind != Kind::Regular {
        return Err(ReadError::NotRegular(kind));
    }
    if meta.len() > limit.bytes {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit: limit.bytes,
            what: limit.what,
        });
    }
    Ok(file)
}

/// The bytes of the regular file at `path`, at most `limit` of them (a file that grows past it while read is
/// refused too).
pub fn read_bytes(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path, limit)?;
    let mut bytes = Vec::new();
    file.take(limit.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            limit: limit.bytes,
            what: limit.what,
        });
    }
    Ok(bytes)
}

/// The text of the regular file at `path` (see [`read_bytes`]); invalid UTF-8 is reported at its line and column.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, ReadError> {
    utf8(read_bytes(path, limit)?)
}

/// `bytes` as a string, or where the first invalid UTF-8 byte is (line and column from 1, columns in characters).
pub fn utf8(bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        // The prefix of the line is valid UTF-8 (it is before the first invalid byte).
        let column =
            std::str::from_utf8(&before[line_start..]).map_or(0, |s| s.chars().count()) as u64 + 1;
        ReadError::NotUtf8 { line, column }
    })
}

/// How an output file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Replaced as a whole (the default).
    #[default]
    Replace,
    /// Appended to, as `>>` does (`--markdown-append`, or `--markdown "$GITHUB_STEP_SUMMARY"`).
    Append,
}

/// Where an output goes, decided when it is prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dest {
    /// `-`.
    Stdout,
    /// A regular file or a new path: a temporary file in the resolved path's directory, renamed over it.
    Replace { resolved: PathBuf },
    /// A regular file or a new path, appended to.
    Append { resolved: PathBuf },
    /// A character device, FIFO or socket, opened and written in place.
    Direct { kind: Kind },
}

/// An output path checked before the run: `-`, a regular file or new path whose directory is writable, or a
/// device, FIFO or socket written in place.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// As the user gave it.
    path: PathBuf,
    dest: Dest,
}

/// How long a write to a FIFO waits for a reader to open it, or for a full pipe to drain.
const FIFO_PATIENCE: Duration = Duration::from_secs(30);

impl OutputFile {
    /// Checks now that `path` can be written (see the module docs); nothing is created or changed.
    pub fn prepare(path: &Path, mode: Mode) -> Result<OutputFile, WriteError> {
        let fail = |source: io::Error| WriteError {
            path: path.to_path_buf(),
            source,
        };
        let refuse = |why: String| fail(io::Error::other(why));
        if path.as_os_str() == "-" {
            return Ok(OutputFile {
                path: path.to_path_buf(),
                dest: Dest::Stdout,
            });
        }
        let resolved = resolve(path).map_err(fail)?;
        let dest = match std::fs::metadata(&resolved) {
            Ok(meta) => match Kind::of(&meta.file_type()) {
                Kind::Regular => match mode {
                    Mode::Replace => Dest::Replace { resolved },
                    Mode::Append => Dest::Append { resolved },
                },
                Kind::Directory => {
                    return Err(refuse("it is a directory; name a file in it".into()));
                }
                Kind::BlockDevice => {
                    return Err(refuse(
                        "it is a block device; loadgen does not write results over a disk".into(),
                    ));
                }
                kind @ (Kind::CharDevice | Kind::Fifo | Kind::Socket) => Dest::Direct { kind },
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => match mode {
                Mode::Replace => Dest::Replace { resolved },
                Mode::Append => Dest::Append { resolved },
            },
            Err(e) => return Err(fail(e)),
        };
        let out = OutputFile {
            path: path.to_path_buf(),
            dest,
        };
        match &out.dest {
            Dest::Replace { resolved } | Dest::Append { resolved } => {
                // The directory must take a new file: make and remove a temporary one.
                let tmp = temp_path(resolved);
                File::create(&tmp).map_err(fail)?;
                let _ = std::fs::remove_file(&tmp);
            }
            Dest::Direct {
                kind: Kind::CharDevice,
            } => {
                File::options().write(true).open(path).map_err(fail)?;
            }
            // A FIFO is opened when written (a reader may come later); a socket is connected then.
            _ => {}
        }
        Ok(out)
    }

    /// The path as the user gave it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `-`: the file is stdout.
    pub fn is_stdout(&self) -> bool {
        self.dest == Dest::Stdout
    }

    /// A regular file (or a new one), which may be rewritten while a run goes (the live CSV files); a device,
    /// FIFO or stdout is written once, at the end.
    pub fn is_regular(&self) -> bool {
        matches!(self.dest, Dest::Replace { .. } | Dest::Append { .. })
    }

    /// The path resolved through its symlinks, to tell two outputs that are one file; `None` for stdout.
    pub fn identity(&self) -> Option<PathBuf> {
        match &self.dest {
            Dest::Replace { resolved } | Dest::Append { resolved } => Some(resolved.clone()),
            Dest::Direct { .. } => Some(resolve(&self.path).unwrap_or_else(|_| self.path.clone())),
            Dest::Stdout => None,
        }
    }

    /// Writes `bytes` as the whole content (or appends them), as prepared.
    pub fn write_all(&self, bytes: &[u8]) -> Result<(), WriteError> {
        let err = |source| WriteError {
            path: self.path.clone(),
            source,
        };
        match &self.dest {
            Dest::Stdout => {
                let mut out = io::stdout().lock();
                match out.write_all(bytes).and_then(|()| out.flush()) {
                    // `loadgen report r.json --json - | head` is not an error.
                    Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(err(e)),
                    _ => Ok(()),
                }
            }
            Dest::Replace { resolved } => replace(resolved, bytes).map_err(err),
            Dest::Append { resolved } => {
                let mut f = File::options()
                    .append(true)
                    .create(true)
                    .open(resolved)
                    .map_err(err)?;
                f.write_all(bytes).and_then(|()| f.sync_data()).map_err(err)
            }
            Dest::Direct { kind: Kind::Fifo } => write_fifo(&self.path, bytes).map_err(err),
            Dest::Direct { kind: Kind::Socket } => {
                let mut s = std::os::unix::net::UnixStream::connect(&self.path).map_err(err)?;
                s.write_all(bytes).map_err(err)?;
                let _ = s.shutdown(std::net::Shutdown::Write);
                Ok(())
            }
            Dest::Direct { .. } => {
                let mut f = File::options().write(true).open(&self.path).map_err(err)?;
                f.write_all(bytes).and_then(|()| f.flush()).map_err(err)
            }
        }
    }
}

/// `path` with every symlink in it followed (as far as the path exists: the rest is joined on), so that a
/// temporary file goes beside the real file and the rename leaves the symlink in place.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            Ok(_) => return path.canonicalize(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let name = path.file_name().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "it names no file")
                })?;
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let dir = dir.canonicalize()?;
                if !dir.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("{} is not a directory", dir.display()),
                    ));
                }
                return Ok(dir.join(name));
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "too many levels of symbolic links",
    ))
}

fn temp_path(resolved: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = resolved
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    resolved.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Writes a temporary file beside `resolved` and renames it over it, keeping an existing file's permissions.
fn replace(resolved: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(resolved);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(resolved) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, resolved)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes to a FIFO without ever blocking for good: waits up to [`FIFO_PATIENCE`] for a reader, and for a full
/// pipe to drain.
fn write_fifo(path: &Path, mut bytes: &[u8]) -> io::Result<()> {
    let start = Instant::now();
    let mut f = loop {
        match File::options()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(path)
        {
            Ok(f) => break f,
            // ENXIO: no reader yet.
            Err(e) if e.raw_os_error() == Some(6) && start.elapsed() < FIFO_PATIENCE => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.raw_os_error() == Some(6) => {
                return Err(io::Error::other(format!(
                    "it is a FIFO and nothing opened it for reading within {} s",
                    FIFO_PATIENCE.as_secs()
                )));
            }
            Err(e) => return Err(e),
        }
    };
    let mut last_progress = Instant::now();
    while !bytes.is_empty() {
        match f.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if last_progress.elapsed() > FIFO_PATIENCE {
                    return Err(io::Error::other(format!(
                        "the FIFO's reader took nothing for {} s",
                        FIFO_PATIENCE.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_reported_at_its_line_and_column() {
        let mut bytes = b"a = 1\nb = 2\nname = \"x".to_vec();
        bytes.push(0xff);
        match utf8(bytes) {
            Err(ReadError::NotUtf8 { line, column }) => assert_eq!((line, column), (3, 10)),
            other => panic!("{other:?}"),
        }
        assert_eq!(utf8(b"ok\n".to_vec()).unwrap(), "ok\n");
    }

    #[test]
    fn reads_regular_files_up_to_the_limit_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let small = Limit {
            what: "test file",
            bytes: 4,
        };
        let f = dir.path().join("f");
        std::fs::write(&f, b"1234").unwrap();
        assert_eq!(read_bytes(&f, small).unwrap(), b"1234");
        std::fs::write(&f, b"12345").unwrap();
        let e = read_bytes(&f, small).unwrap_err().to_string();
        assert!(
            e.contains("5 bytes, more than the 4 bytes a test file"),
            "{e}"
        );
        let e = read_bytes(dir.path(), small).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        let fifo = dir.path().join("p");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read_bytes(&fifo, small).unwrap_err().to_string();
        assert!(e.contains("a FIFO"), "{e}");
    }

    #[test]
    fn a_symlinked_output_is_written_through_and_stays_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        std::fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        let out = OutputFile::prepare(&link, Mode::Replace).unwrap();
        out.write_all(b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link creates its target.
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("made.json", &dangling).unwrap();
        OutputFile::prepare(&dangling, Mode::Replace)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join("made.json")).unwrap(), b"x");
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn append_mode_keeps_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("summary.md");
        std::fs::write(&f, b"earlier\n").unwrap();
        let out = OutputFile::prepare(&f, Mode::Append).unwrap();
        out.write_all(b"ours\n").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"earlier\nours\n");
    }

    #[test]
    fn a_directory_output_is_refused_when_prepared() {
        let dir = tempfile::tempdir().unwrap();
        let e = OutputFile::prepare(dir.path(), Mode::Replace).unwrap_err();
        assert!(format!("{e}: {}", std::error::Error::source(&e).unwrap()).contains("a directory"));
    }
}
