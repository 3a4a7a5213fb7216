//! The main thread's wake-up sources, as file descriptors it waits on with one `poll`:
//!
//! * [`Alarm`]: a `timerfd` set to the daemon core's next deadline. Servants set it again
//!   after every report (one syscall on a thread that is awake anyway); as long as they
//!   report, the deadline keeps moving away and the main thread never wakes.
//! * [`Doorbell`]: an `eventfd` a servant rings once its report ended the daemon.
//! * [`StopSignals`]: a `signalfd` for SIGTERM and SIGINT, blocked in every thread of the
//!   daemon (servants are started with them blocked, [`BlockedStopSignals`]; the main
//!   thread blocks them once the daemon runs), so no thread is needed to catch them.
//!
//! All of these are plain Linux syscalls through `libc`; each wrapper owns its fd.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Read whatever is pending on a non-blocking fd (its count or signal info), ignoring
/// "nothing there".
fn drain(fd: RawFd, buffer: &mut [u8]) -> bool {
    // SAFETY: `buffer` is valid for writes of its length; `fd` is owned by the caller.
    let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
    n > 0
}

/// A monotonic one-shot timer the main thread waits on.
#[derive(Debug)]
pub struct Alarm {
    fd: OwnedFd,
}

impl Alarm {
    pub fn new() -> io::Result<Alarm> {
        // SAFETY: plain syscall; the returned fd is checked and then owned.
        let fd = check(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
            )
        })?;
        // SAFETY: `fd` was just returned by timerfd_create and is owned by nobody else.
        Ok(Alarm {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Go off `after` from now (at once for zero); replaces the previous setting.
    pub fn set_after(&self, after: Duration) -> io::Result<()> {
        // A zero it_value would disarm the timer: one nanosecond is "at once".
        let after = after.max(Duration::from_nanos(1));
        let value = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(after.subsec_nanos()),
            },
        };
        // SAFETY: `value` is a valid itimerspec; the old value is not asked for.
        check(unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), 0, &value, std::ptr::null_mut())
        })
        .map(|_| ())
    }

    fn clear(&self) {
        let mut count = [0u8; 8];
        drain(self.fd.as_raw_fd(), &mut count);
    }
}

/// An eventfd: "look at the core now".
#[derive(Debug)]
pub struct Doorbell {
    fd: OwnedFd,
}

impl Doorbell {
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: plain syscall; the returned fd is checked and then owned.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(Doorbell {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 valid bytes to an eventfd this struct owns. A full counter
        // (EAGAIN) means it is already ringing.
        unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    fn clear(&self) {
        let mut count = [0u8; 8];
        drain(self.fd.as_raw_fd(), &mut count);
    }
}

/// The set {SIGTERM, SIGINT}.
fn stop_signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Change the calling thread's mask for the stop signals; returns the previous mask.
fn mask_stop_signals(how: libc::c_int) -> io::Result<libc::sigset_t> {
    let set = stop_signal_set();
    // SAFETY: `set` is initialised, `old` is a valid out pointer; only this thread's
    // mask changes.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let rc = libc::pthread_sigmask(how, &set, &mut old);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(old)
    }
}

/// While alive, SIGTERM and SIGINT are blocked in the calling thread, so the threads it
/// starts meanwhile never take them; the previous mask comes back on drop.
pub struct BlockedStopSignals {
    previous: Option<libc::sigset_t>,
}

impl BlockedStopSignals {
    pub fn here() -> BlockedStopSignals {
        BlockedStopSignals {
            previous: mask_stop_signals(libc::SIG_BLOCK).ok(),
        }
    }
}

impl Drop for BlockedStopSignals {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            // SAFETY: restores a mask pthread_sigmask returned for this thread.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, previous, std::ptr::null_mut()) };
        }
    }
}

/// SIGTERM and SIGINT through a signalfd. Creating it changes nothing: until
/// [`StopSignals::take_over`] blocks them in the calling thread, a stop signal does
/// what it does by default (ends the process), as during start-up.
#[derive(Debug)]
pub struct StopSignals {
    fd: OwnedFd,
}

impl StopSignals {
    pub fn new() -> io::Result<StopSignals> {
        let set = stop_signal_set();
        // SAFETY: `set` is initialised; -1 asks for a new fd, which is checked and owned.
        let fd =
            check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
        // SAFETY: `fd` was just returned by signalfd and is owned by nobody else.
        Ok(StopSignals {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Block the stop signals in the calling thread (the last one that had them
    /// unblocked): from now on they only become readable here.
    pub fn take_over(&self) -> io::Result<()> {
        mask_stop_signals(libc::SIG_BLOCK).map(|_| ())
    }

    /// Whether a stop signal was pending (consumes them).
    fn take(&self) -> bool {
        let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
        let mut any = false;
        while drain(self.fd.as_raw_fd(), &mut info) {
            any = true;
        }
        any
    }
}

/// What woke the main thread (several may be true at once).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Woken {
    pub alarm: bool,
    pub doorbell: bool,
    pub stop: bool,
}

/// Block until the alarm goes off, the doorbell rings or a stop signal arrives, and
/// consume what did. An error of `poll` itself is returned as is.
pub fn wait(alarm: &Alarm, doorbell: &Doorbell, stop: Option<&StopSignals>) -> io::Result<Woken> {
    let mut fds = [alarm.fd.as_raw_fd(), doorbell.fd.as_raw_fd(), -1].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    if let Some(stop) = stop {
        fds[2].fd = stop.fd.as_raw_fd();
    }
    loop {
        // SAFETY: `fds` is a valid array of pollfd of the given length (a negative fd is
        // ignored by poll); -1 waits without a time limit.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let ready = |i: usize| fds[i].revents != 0;
    let woken = Woken {
        alarm: ready(0),
        doorbell: ready(1),
        stop: ready(2) && stop.is_some_and(StopSignals::take),
    };
    if woken.alarm {
        alarm.clear();
    }
    if woken.doorbell {
        doorbell.clear();
    }
    Ok(woken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// What is left of the alarm's setting, from the timer itself (zero: disarmed).
    fn remaining(alarm: &Alarm) -> Duration {
        // SAFETY: an all-zero itimerspec is valid, and `timerfd_gettime` only writes it.
        let mut spec: libc::itimerspec = unsafe { std::mem::zeroed() };
        // SAFETY: the fd is the alarm's open timerfd; `spec` is a valid out-pointer.
        let rc = unsafe { libc::timerfd_gettime(alarm.fd.as_raw_fd(), &mut spec) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        Duration::new(spec.it_value.tv_sec as u64, spec.it_value.tv_nsec as u32)
    }

    #[test]
    fn the_alarm_goes_off_after_its_last_setting() {
        let alarm = Alarm::new().unwrap();
        let doorbell = Doorbell::new().unwrap();
        let started = Instant::now();
        alarm.set_after(Duration::from_secs(30)).unwrap();
        alarm.set_after(Duration::from_millis(20)).unwrap();
        // The timer's own state, not a clock: the 30 s setting was replaced, not queued.
        assert!(remaining(&alarm) <= Duration::from_millis(20));
        let woken = wait(&alarm, &doorbell, None).unwrap();
        assert!(woken.alarm && !woken.doorbell && !woken.stop, "{woken:?}");
        // A lower bound on the timer's own wait (set after `started`): a slow machine only
        // lengthens it, so it cannot flake.
        assert!(started.elapsed() >= Duration::from_millis(20));
        // Gone off and nothing left armed: no 30 s setting still pending behind it.
        assert_eq!(remaining(&alarm), Duration::ZERO);
        // Zero means "at once", not "disarmed".
        alarm.set_after(Duration::ZERO).unwrap();
        assert!(wait(&alarm, &doorbell, None).unwrap().alarm);
    }

    #[test]
    fn the_doorbell_wakes_from_another_thread() {
        let alarm = Alarm::new().unwrap();
        let doorbell = std::sync::Arc::new(Doorbell::new().unwrap());
        alarm.set_after(Duration::from_secs(30)).unwrap();
        let ringer = doorbell.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            ringer.ring();
        });
        let woken = wait(&alarm, &doorbell, None).unwrap();
        assert_eq!(
            woken,
            Woken {
                doorbell: true,
                ..Woken::default()
            }
        );
        thread.join().unwrap();
    }
}
