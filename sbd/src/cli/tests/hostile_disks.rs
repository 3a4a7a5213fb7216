//! Commands against crafted disks (issue #11): names with control characters, headers
//! with absurd or zero timeouts. Each disk is made with the crate's own writer, then
//! single sectors are replaced with crafted ones (sealed, or unsealed as ClusterLabs sbd
//! writes them).

use super::World;
use crate::blockdev::BlockDevice;
use crate::format::{
    mailbox_sector, slot_sector, DiskTimeouts, Header, Mailbox, NodeName, SlotEntry, CHECK_END,
    CHECK_OFFSET,
};
use crate::inquisitor::MailboxCommand;

/// Slot 0 named `name`, its mailbox holding `reset` from `sender`.
fn plant_names(world: &World, path: &str, name: &[u8], sender: &[u8]) {
    let device = &world.devices[path];
    let slot = SlotEntry {
        in_use: 1,
        name: NodeName::from_field(name),
    };
    let mailbox = Mailbox {
        command: MailboxCommand::Reset,
        sender: NodeName::from_field(sender),
    };
    device
        .write_sector(slot_sector(0), &slot.encode(512).expect("slot"))
        .expect("write slot");
    device
        .write_sector(mailbox_sector(0), &mailbox.encode(512).expect("mailbox"))
        .expect("write mailbox");
}

#[test]
fn list_escapes_control_characters_in_names_and_senders() {
    let mut world = World::new(&["/dev/a"]);
    assert_eq!(world.run("-d /dev/a create").0, 0);
    plant_names(&world, "/dev/a", b"evil\x1b[2J\tx\ny", b"from\x07\xff");
    let (code, out, err) = world.run("-d /dev/a list");
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "0\tevil\\x1b[2J\\x09x\\x0ay\treset\tfrom\\x07\\xff\n");
    assert!(!out.bytes().any(|b| b == 0x1b || b == 0x07));
}

#[test]
fn dump_and_errors_escape_what_they_found_on_disk() {
    let mut world = World::new(&["/dev/a"]);
    let mut junk = vec![0u8; 512];
    junk[..8].copy_from_slice(b"\x1b]0;pwn!");
    world.devices["/dev/a"]
        .write_sector(0, &junk)
        .expect("write junk");
    let (code, _, err) = world.run("-d /dev/a dump");
    assert_eq!(code, 1);
    assert!(err.contains("bad magic \"\\x1b]0;pwn!\""), "{err}");
    assert!(!err.contains('\x1b'), "{err:?}");
    // A name given on the command line is escaped in the error too.
    world.run("-d /dev/a create");
    let (code, _, err) = world.run("-d /dev/a -n me message ghost\x1b[1m test");
    assert_eq!(code, 1);
    assert!(err.contains("node ghost\\x1b[1m not found"), "{err:?}");
}

/// `path`'s header rewritten with `timeouts`: sealed by our writer, or (`sealed` false)
/// with the integrity field zeroed, as ClusterLabs sbd writes a header.
fn plant_timeouts(world: &World, path: &str, timeouts: DiskTimeouts, sealed: bool) {
    let device = &world.devices[path];
    let mut sector = Header::new(512, timeouts, [0x5a; 16])
        .encode(512)
        .expect("header");
    if !sealed {
        sector[CHECK_OFFSET..CHECK_END].fill(0);
    }
    device.write_sector(0, &sector).expect("write header");
}

/// A device with node1 and node2 allocated, then its header's timeouts replaced.
fn world_with_timeouts(timeouts: DiskTimeouts, sealed: bool) -> World {
    let mut world = World::new(&["/dev/a"]);
    assert_eq!(world.run("-d /dev/a create").0, 0);
    assert_eq!(world.run("-d /dev/a allocate node1").0, 0);
    assert_eq!(world.run("-d /dev/a allocate node2").0, 0);
    plant_timeouts(&world, "/dev/a", timeouts, sealed);
    world.pauses.clear();
    world
}

fn mailbox_of_node1(world: &World) -> MailboxCommand {
    let device = &world.devices["/dev/a"];
    let sector = device.read_sector(mailbox_sector(0)).expect("read mailbox");
    Mailbox::decode(&sector).expect("mailbox").command
}

const ABSURD: u32 = 0xffff_ffff;

#[test]
fn message_refuses_an_absurd_msgwait_instead_of_hanging() {
    for sealed in [true, false] {
        let timeouts = DiskTimeouts {
            msgwait: ABSURD,
            ..DiskTimeouts::default()
        };
        let mut world = world_with_timeouts(timeouts, sealed);
        let (code, _, err) = world.run("-d /dev/a -n node2 message node1 reset");
        assert_eq!(code, 1, "sealed {sealed}: {err}");
        assert!(
            err.contains("msgwait timeout 4294967295 s is above the sane maximum"),
            "{err}"
        );
        assert!(world.pauses.is_empty(), "no wait: {:?}", world.pauses);
        assert_eq!(
            mailbox_of_node1(&world),
            MailboxCommand::Clear,
            "nothing written"
        );
        // ping turns msgwait into its wait as well.
        let (code, _, err) = world.run("-d /dev/a -n node2 ping node1");
        assert_eq!(code, 1);
        assert!(err.contains("msgwait timeout 4294967295 s"), "{err}");
        assert!(world.pauses.is_empty());
    }
}

#[test]
fn allocate_refuses_an_absurd_allocate_timeout() {
    let timeouts = DiskTimeouts {
        allocate: ABSURD,
        ..DiskTimeouts::default()
    };
    let mut world = world_with_timeouts(timeouts, false);
    let (code, _, err) = world.run("-d /dev/a allocate node3");
    assert_eq!(code, 1);
    assert!(err.contains("allocate timeout 4294967295 s"), "{err}");
    assert!(world.pauses.is_empty());
}

#[test]
fn create_refuses_to_write_timeouts_every_reader_would_refuse() {
    let mut world = World::new(&["/dev/a"]);
    let (code, out, err) = world.run("-d /dev/a -4 4000000 create");
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("msgwait timeout 4000000 s is above"), "{err}");
    assert_eq!(world.devices["/dev/a"].write_count(), 0);
}

#[test]
fn message_refuses_a_zero_msgwait_or_watchdog_timeout() {
    for (field, timeouts) in [
        (
            "msgwait",
            DiskTimeouts {
                msgwait: 0,
                ..DiskTimeouts::default()
            },
        ),
        (
            "watchdog",
            DiskTimeouts {
                watchdog: 0,
                ..DiskTimeouts::default()
            },
        ),
    ] {
        let mut world = world_with_timeouts(timeouts, false);
        let (code, _, err) = world.run("-d /dev/a -n node2 message node1 off");
        assert_eq!(code, 1, "{field}: {err}");
        assert!(
            err.contains(&format!("header {field} timeout is 0")),
            "{err}"
        );
        assert_eq!(mailbox_of_node1(&world), MailboxCommand::Clear);
        let option = if field == "msgwait" { "-4" } else { "-1" };
        let mut fresh = World::new(&["/dev/b"]);
        let (code, _, err) = fresh.run(&format!("-d /dev/b {option} 0 create"));
        assert_eq!(code, 1, "create {option} 0: {err}");
        assert!(
            err.contains(&format!("header {field} timeout is 0")),
            "{err}"
        );
    }
}
