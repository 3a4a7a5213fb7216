//! Linux watchdog devices (/dev/watchdog and friends): open, set and read the timeout,
//! keep alive, magic close on a clean stop, and a capability probe that never arms the device.
//! The device path always comes from configuration.
