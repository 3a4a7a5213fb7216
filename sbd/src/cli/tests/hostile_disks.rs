//! Commands against crafted disks (issue #11): names with control characters, headers
//! with absurd or zero timeouts. Each disk is made with the crate's own writer, then
//! single sectors are replaced with crafted ones (sealed, or unsealed as ClusterLabs sbd
//! writes them).

use super::World;
use crate::blockdev::BlockDevice;
use crate::format::{mailbox_sector, slot_sector, Mailbox, NodeName, SlotEntry};
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
