//! The real `palisade-sbd` process: arguments and environment of this process, devices
//! opened with [`FileDevice`], real sleeps, UUIDs from `/dev/urandom`, the kernel's
//! mount, swap and device tables for `create`'s safety probe, stdout and stderr.
//! `watch` goes to [`crate::daemon::main`].

use std::io::{self, Read, Write};

use super::{parse_args, run, Command, Runtime, PROGRAM};
use crate::blockdev::{BlockDevError, BlockDevice, FileDevice, IoMode};
use crate::overwrite_guard::{self, KernelTables};

/// The real program: arguments and environment of this process, devices opened with
/// [`FileDevice`], real sleeps, UUIDs from `/dev/urandom`, stdout and stderr.
pub fn main_from_env() -> i32 {
    let mut stderr = io::stderr().lock();
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let Ok(args) = args else {
        let _ = writeln!(stderr, "{PROGRAM}: arguments must be valid UTF-8");
        return 1;
    };
    let env = |key: &str| std::env::var(key).ok();
    let invocation = match parse_args(&args, &env, &local_hostname) {
        Ok(invocation) => invocation,
        Err(e) => {
            let _ = writeln!(stderr, "{PROGRAM}: {e}\nTry '{PROGRAM} -h' for help.");
            return 1;
        }
    };
    if invocation.command == Command::Watch {
        drop(stderr);
        return crate::daemon::main(&invocation, &env);
    }
    let open = |path: &str| -> Result<Box<dyn BlockDevice>, BlockDevError> {
        let device = FileDevice::open(path)?;
        if device.io_mode() == IoMode::Buffered {
            let _ = writeln!(
                io::stderr(),
                "{PROGRAM}: note: {path} does not support O_DIRECT; using O_SYNC only \
                 (fine for a local file, never for storage shared between hosts)"
            );
        }
        Ok(Box::new(device))
    };
    let mut pause = std::thread::sleep;
    let mut random = || -> io::Result<[u8; 16]> {
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(bytes)
    };
    let usage = |path: &str| overwrite_guard::usage::find(path, &KernelTables::default());
    let mut stdout = io::stdout().lock();
    let mut runtime = Runtime {
        open: &open,
        pause: &mut pause,
        random: &mut random,
        out: &mut stdout,
        err: &mut stderr,
        probe: &watchdog::probe,
        env: &env,
        usage: &usage,
    };
    run(&invocation, &mut runtime)
}

/// The kernel's host name (what `uname -n` prints).
fn local_hostname() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_owned())
}
