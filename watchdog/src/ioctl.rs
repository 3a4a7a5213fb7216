//! The Linux watchdog ioctl interface (`linux/watchdog.h`): request numbers computed the
//! way the kernel's `_IOR`/`_IOWR` macros do, option and status bits, and `watchdog_info`.
//!
//! The numbers are the generic asm layout (x86, arm, arm64, riscv, s390): 2 direction bits,
//! 14 size bits, 8 type bits, 8 number bits. Unit tests pin them to the values
//! `linux/watchdog.h` produces.

/// `WATCHDOG_IOCTL_BASE`, the ioctl type byte `'W'`.
pub const WATCHDOG_IOCTL_BASE: u8 = b'W';

const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// The kernel's `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, kind: u8, nr: u8, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | ((kind as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// `_IOR(type, nr, size)`.
pub const fn ior(kind: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_READ, kind, nr, size)
}

/// `_IOWR(type, nr, size)`.
pub const fn iowr(kind: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, kind, nr, size)
}

const INT: usize = std::mem::size_of::<libc::c_int>();

/// `struct watchdog_info` as the kernel fills it for `WDIOC_GETSUPPORT`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogInfo {
    /// `WDIOF_*` bits the driver supports.
    pub options: u32,
    pub firmware_version: u32,
    /// NUL-padded driver identity, e.g. `Software Watchdog`.
    pub identity: [u8; 32],
}

impl WatchdogInfo {
    /// All zero, ready to be filled by the kernel.
    pub const fn zeroed() -> WatchdogInfo {
        WatchdogInfo {
            options: 0,
            firmware_version: 0,
            identity: [0; 32],
        }
    }

    /// The identity as text, up to the first NUL.
    pub fn identity_str(&self) -> String {
        let end = self
            .identity
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.identity.len());
        String::from_utf8_lossy(&self.identity[..end]).into_owned()
    }
}

/// `WDIOC_GETSUPPORT = _IOR('W', 0, struct watchdog_info)`.
pub const WDIOC_GETSUPPORT: u32 = ior(WATCHDOG_IOCTL_BASE, 0, std::mem::size_of::<WatchdogInfo>());
/// `WDIOC_GETSTATUS = _IOR('W', 1, int)`.
pub const WDIOC_GETSTATUS: u32 = ior(WATCHDOG_IOCTL_BASE, 1, INT);
/// `WDIOC_GETBOOTSTATUS = _IOR('W', 2, int)`.
pub const WDIOC_GETBOOTSTATUS: u32 = ior(WATCHDOG_IOCTL_BASE, 2, INT);
/// `WDIOC_SETOPTIONS = _IOR('W', 4, int)` (sic: the header declares it as a read).
pub const WDIOC_SETOPTIONS: u32 = ior(WATCHDOG_IOCTL_BASE, 4, INT);
/// `WDIOC_KEEPALIVE = _IOR('W', 5, int)`.
pub const WDIOC_KEEPALIVE: u32 = ior(WATCHDOG_IOCTL_BASE, 5, INT);
/// `WDIOC_SETTIMEOUT = _IOWR('W', 6, int)`.
pub const WDIOC_SETTIMEOUT: u32 = iowr(WATCHDOG_IOCTL_BASE, 6, INT);
/// `WDIOC_GETTIMEOUT = _IOR('W', 7, int)`.
pub const WDIOC_GETTIMEOUT: u32 = ior(WATCHDOG_IOCTL_BASE, 7, INT);
/// `WDIOC_SETPRETIMEOUT = _IOWR('W', 8, int)`.
pub const WDIOC_SETPRETIMEOUT: u32 = iowr(WATCHDOG_IOCTL_BASE, 8, INT);
/// `WDIOC_GETPRETIMEOUT = _IOR('W', 9, int)`.
pub const WDIOC_GETPRETIMEOUT: u32 = ior(WATCHDOG_IOCTL_BASE, 9, INT);
/// `WDIOC_GETTIMELEFT = _IOR('W', 10, int)`.
pub const WDIOC_GETTIMELEFT: u32 = ior(WATCHDOG_IOCTL_BASE, 10, INT);

/// `WDIOS_DISABLECARD`: turn the timer off (argument of `WDIOC_SETOPTIONS`).
pub const WDIOS_DISABLECARD: libc::c_int = 0x0001;
/// `WDIOS_ENABLECARD`: turn the timer on.
pub const WDIOS_ENABLECARD: libc::c_int = 0x0002;

/// `WDIOF_SETTIMEOUT`: the timeout can be set.
pub const WDIOF_SETTIMEOUT: u32 = 0x0080;
/// `WDIOF_MAGICCLOSE`: the driver honours the magic close character `V`.
pub const WDIOF_MAGICCLOSE: u32 = 0x0100;
/// `WDIOF_PRETIMEOUT`: a pretimeout can be set.
pub const WDIOF_PRETIMEOUT: u32 = 0x0200;
/// `WDIOF_ALARMONLY`: the timer only raises an alarm, it does not reset the machine.
pub const WDIOF_ALARMONLY: u32 = 0x0400;
/// `WDIOF_KEEPALIVEPING`: `WDIOC_KEEPALIVE` is supported.
pub const WDIOF_KEEPALIVEPING: u32 = 0x8000;

/// The magic close character: written just before close, it disarms the timer
/// (unless the kernel was built or loaded with `nowayout`).
pub const MAGIC_CLOSE: u8 = b'V';

/// Names of the `WDIOF_*` bits set in `options`, for logs and the probe.
pub fn option_names(options: u32) -> Vec<&'static str> {
    const NAMES: [(u32, &str); 12] = [
        (0x0001, "OVERHEAT"),
        (0x0002, "FANFAULT"),
        (0x0004, "EXTERN1"),
        (0x0008, "EXTERN2"),
        (0x0010, "POWERUNDER"),
        (0x0020, "CARDRESET"),
        (0x0040, "POWEROVER"),
        (WDIOF_SETTIMEOUT, "SETTIMEOUT"),
        (WDIOF_MAGICCLOSE, "MAGICCLOSE"),
        (WDIOF_PRETIMEOUT, "PRETIMEOUT"),
        (WDIOF_ALARMONLY, "ALARMONLY"),
        (WDIOF_KEEPALIVEPING, "KEEPALIVEPING"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| options & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by a C program including `<linux/watchdog.h>` (x86_64, Debian 12).
    #[test]
    fn request_numbers_match_linux_watchdog_h() {
        assert_eq!(std::mem::size_of::<WatchdogInfo>(), 40);
        assert_eq!(WDIOC_GETSUPPORT, 0x8028_5700);
        assert_eq!(WDIOC_GETSTATUS, 0x8004_5701);
        assert_eq!(WDIOC_GETBOOTSTATUS, 0x8004_5702);
        assert_eq!(WDIOC_SETOPTIONS, 0x8004_5704);
        assert_eq!(WDIOC_KEEPALIVE, 0x8004_5705);
        assert_eq!(WDIOC_SETTIMEOUT, 0xC004_5706);
        assert_eq!(WDIOC_GETTIMEOUT, 0x8004_5707);
        assert_eq!(WDIOC_SETPRETIMEOUT, 0xC004_5708);
        assert_eq!(WDIOC_GETPRETIMEOUT, 0x8004_5709);
        assert_eq!(WDIOC_GETTIMELEFT, 0x8004_570A);
    }

    #[test]
    fn ioc_fields_land_where_the_kernel_puts_them() {
        let n = ioc(3, 0xAB, 0xCD, 0x123);
        assert_eq!(n >> 30, 3);
        assert_eq!((n >> 16) & 0x3FFF, 0x123);
        assert_eq!((n >> 8) & 0xFF, 0xAB);
        assert_eq!(n & 0xFF, 0xCD);
    }

    #[test]
    fn option_names_decode_softdog_options() {
        // softdog: SETTIMEOUT | KEEPALIVEPING | MAGICCLOSE = 0x8180
        assert_eq!(
            option_names(0x8180),
            vec!["SETTIMEOUT", "MAGICCLOSE", "KEEPALIVEPING"]
        );
        assert!(option_names(0).is_empty());
    }

    #[test]
    fn identity_stops_at_nul() {
        let mut info = WatchdogInfo::zeroed();
        info.identity[..17].copy_from_slice(b"Software Watchdog");
        assert_eq!(info.identity_str(), "Software Watchdog");
    }
}
