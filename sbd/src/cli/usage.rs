//! The `-h` text of `palisade-sbd`.

/// `-h` output.
pub const USAGE: &str = "\
palisade-sbd: shared storage fencing (ClusterLabs sbd compatible)
Syntax:
\tpalisade-sbd <options> <command> <cmdarguments>
Options:
-d <devname>\tBlock device to use (mandatory; can be specified up to 3 times;
\t\tdefault: SBD_DEVICE=\"dev1;dev2;dev3\")
-h\t\tDisplay this help.
-n <node>\tSet local node name; defaults to uname -n (lower case)
-1 <N>\t\tSet watchdog timeout to N seconds (create only; default 5 or SBD_WATCHDOG_TIMEOUT)
-2 <N>\t\tSet slot allocation timeout to N seconds (create only; default 2)
-3 <N>\t\tSet daemon loop timeout to N seconds (create only; default 1)
-4 <N>\t\tSet msgwait timeout to N seconds (create only; default 10)
-I <N>\t\tI/O timeout (default 3)
Watch options (see sbd(8); environment SBD_DEVICE, SBD_WATCHDOG_DEV, SBD_WATCHDOG_TIMEOUT,
SBD_STARTMODE, SBD_PACEMAKER, SBD_SYNC_RESOURCE_STARTUP, SBD_TIMEOUT_ACTION, SBD_DELAY_START,
SBD_PIDFILE; systemd reads them from /etc/default/sbd or /etc/sysconfig/sbd):
-w <dev>\tWatchdog device (default /dev/watchdog; /dev/null: none; pet-file:PATH: test device)
-W\t\tToggle the watchdog (given twice: no watchdog)
-T\t\tKeep the driver's watchdog timeout
-S <0|1>\tStart mode: 0/always, 1/clean (refuse to start with a fencing message pending)
-P\t\tPacemaker servant on (given twice: off; SBD_PACEMAKER=yes turns on -P and -c)
-c\t\tCluster (corosync membership and quorum) servant on (given twice: off)
-z\t\tOnce the cluster is up, require disk quorum and a healthy cluster
-5 <N>\t\tLatency warning threshold
-C <N>\t\tWatchdog timeout during a crashdump (default: disarm it)
-r <action>\tTimeout action: flush|noflush,reboot|off|crashdump
-s <N>\t\tWait up to N seconds for a valid device at start (default 120)
-p <file>\tPID file; with one, watch forks and returns once the watchdog is armed
-v\t\tMore log output (-vv: debug)
--health-file=PATH\tThe cluster is the health file the palisade daemon refreshes
\t\t(instead of the pacemaker and corosync servants)
--self-fence=record:PATH\tTESTS ONLY: record self-fence decisions in PATH instead of
\t\tresetting; refused unless PALISADE_FORBID_SELF_FENCE is set
--force-reset=yes\ttest-watchdog only: really arm the watchdog and let it reset the node
Other sbd options (-R -Z -t -F) are accepted and ignored.
Commands:
create [--force]\tinitialize 255 slots on <dev> - OVERWRITES DEVICE! Refuses a device
\t\tthat is mounted, swap or held by device-mapper/md, and (unless --force)
\t\tone holding a filesystem, swap, LVM2, LUKS or a partition table.
list\t\tList all allocated slots on device, and messages.
dump\t\tDump meta-data header from device.
allocate <node>
\t\tAllocate a slot for node (optional)
message <node> (test|reset|off|crashdump|clear|exit)
\t\tWrites the specified message to node's slot (LOCAL = this node).
watch\t\tRun the daemon: watch the own slot and the cluster, feed the watchdog.
ping <node>\tWrite a test message and wait up to msgwait for node's watcher to clear it
\t\t(exit 0 when it answered on more than half of the devices).
query-watchdog\tList the watchdogs sysfs knows, with driver, timeouts and warnings.
\t\tReads sysfs only: never opens (and so never arms) a watchdog device.
test-watchdog\tShow what a watchdog test would do (-w, -1). It arms the watchdog, never
\t\tpets it and waits: a working watchdog RESETS THIS NODE. Refused unless
\t\t--force-reset=yes is given (and always when PALISADE_FORBID_SELF_FENCE is set,
\t\texcept for a pet-file: test device).
";
