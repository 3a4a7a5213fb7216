//! Going to the background as ClusterLabs sbd does (systemd `Type=forking`): the
//! process forks, the child becomes the daemon, and the parent waits until the child
//! has armed the watchdog after its first healthy round (sbd's "decoupling": the
//! inquisitor's SIG_LIVENESS to its parent), then exits 0; if the child ends first
//! (bad configuration, no valid device, start-up aborted) the parent exits 1.
//!
//! The child's stdin, stdout and stderr become `/dev/null` (its log goes to syslog) and
//! its umask 022, as sbd's `make_daemon`. The readiness channel is a pipe: the child
//! writes one byte ([`Ready::signal`]); the parent reads it, or end of file when the
//! child has exited without.
//!
//! [`detach`] must run before the process starts any thread (fork copies only the
//! calling thread).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Where the process is after [`detach`].
#[derive(Debug)]
pub enum Detached {
    /// The parent: exit with this code once the child is ready or gone.
    Parent(i32),
    /// The child: run the daemon and signal readiness.
    Child(Ready),
}

/// The child's end of the readiness pipe.
#[derive(Debug)]
pub struct Ready {
    fd: Option<OwnedFd>,
}

impl Ready {
    /// Tell the waiting parent that the daemon runs (once; later calls do nothing).
    pub fn signal(&mut self) {
        if let Some(fd) = self.fd.take() {
            let byte = [1u8];
            // SAFETY: writes one valid byte to a pipe this struct owns; a parent that is
            // gone (EPIPE, SIGPIPE is ignored by Rust programs) changes nothing.
            unsafe { libc::write(fd.as_raw_fd(), byte.as_ptr().cast(), 1) };
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Fork. The parent blocks until the child signals readiness or exits and returns
/// [`Detached::Parent`] with the exit code for the caller of `watch`.
pub fn detach() -> io::Result<Detached> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded: both fds are open and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other thread runs yet (the caller's contract), so the child is a
    // complete copy of this process.
    let pid = check(unsafe { libc::fork() })?;
    if pid > 0 {
        drop(write);
        return Ok(Detached::Parent(wait_for_child(read, pid)));
    }
    drop(read);
    to_dev_null()?;
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o022) };
    Ok(Detached::Child(Ready { fd: Some(write) }))
}

/// The parent's side: 0 once the byte arrives, 1 when the pipe ends without it (the
/// child is then reaped).
fn wait_for_child(read: OwnedFd, pid: libc::pid_t) -> i32 {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reads at most one byte into a valid buffer from a pipe we own.
        let n = unsafe { libc::read(read.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
        if n == 1 {
            return 0;
        }
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        break;
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    1
}

/// Point stdin, stdout and stderr at /dev/null.
fn to_dev_null() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, from a file we hold open.
        check(unsafe { libc::dup2(null.as_raw_fd(), target) })?;
    }
    Ok(())
}
