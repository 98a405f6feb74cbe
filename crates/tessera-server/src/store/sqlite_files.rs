//! Operations on the SQLite database file as a whole: the integrity check at start and the
//! online backup (`tessera backup`).
//!
//! A damaged data page is otherwise found only by the request that reads it (`database disk
//! image is malformed`), and a plain file copy of a live database is not consistent (the
//! WAL and the main file are copied at different moments).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::OpenFlags;

/// How long the check at start may take: `PRAGMA quick_check` reads every page, about a
/// second per few hundred MB; a larger database starts without finishing it (logged).
pub const QUICK_CHECK_BOUND: Duration = Duration::from_secs(10);

/// Runs `PRAGMA quick_check` on an existing database file (read-only), within
/// [`QUICK_CHECK_BOUND`]; damage stops the start with what SQLite found.
pub fn quick_check(path: &Path) -> Result<(), String> {
    if !path.is_file() || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(());
    }
    let conn = rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open the SQLite database at {}: {e}", path.display()))?;
    let interrupt = conn.get_interrupt_handle();
    let (done, finished) = mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(QUICK_CHECK_BOUND) {
            interrupt.interrupt();
        }
    });
    let found: rusqlite::Result<Vec<String>> =
        conn.prepare("PRAGMA quick_check(20)").and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    drop(done);
    let _ = timer.join();
    match found {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(()),
        Ok(lines) => Err(format!(
            "the SQLite database at {} is damaged (PRAGMA quick_check: {}); refusing to start. Restore it from a backup \
             (tessera backup)",
            path.display(),
            lines.join("; ")
        )),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == rusqlite::ErrorCode::OperationInterrupted => {
            tracing::warn!(
                path = %path.display(),
                bound_s = QUICK_CHECK_BOUND.as_secs(),
                "the integrity check at start did not finish in time; starting without it"
            );
            Ok(())
        }
        Err(e) => Err(format!(
            "the SQLite database at {} is damaged (PRAGMA quick_check: {e}); refusing to start. Restore it from a backup \
             (tessera backup)",
            path.display()
        )),
    }
}

/// Writes a consistent copy of the live database at `path` to the new file `target`
/// (`VACUUM INTO`: a snapshot read inside one read transaction, so a running server goes
/// on serving and writing meanwhile), synced to disk, then checked.
pub fn backup(path: &Path, target: &Path) -> Result<u64, String> {
    if target.exists() {
        return Err(format!("{} already exists; name a new file", target.display()));
    }
    let conn = rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| format!("cannot open the SQLite database at {}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let into = target.to_str().ok_or_else(|| format!("{} is not valid UTF-8", target.display()))?;
    conn.execute("VACUUM INTO ?1", [into]).map_err(|e| format!("backup into {} failed: {e}", target.display()))?;
    let file = std::fs::File::open(target).map_err(|e| format!("cannot open {}: {e}", target.display()))?;
    file.sync_all().map_err(|e| format!("cannot sync {}: {e}", target.display()))?;
    quick_check(target).map_err(|e| format!("the backup does not check out: {e}"))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

/// Below this much free space on the database's file system, a store whose writes failed is
/// taken to be out of disk (`/readyz`), and no probe write is tried.
pub const MIN_FREE_BYTES: u64 = 1 << 20;

/// Free bytes (for an unprivileged process) on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` a buffer of the right type, which
    // statvfs fills in when it returns 0.
    let st = unsafe {
        if libc::statvfs(c.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        st.assume_init()
    };
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}
