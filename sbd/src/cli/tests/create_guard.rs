//! `create` and its safety probe on memory devices: a device holding a filesystem is
//! refused unless `--force`, one in use always; the usage probe is a stand-in.

use super::{parse, World};
use crate::blockdev::BlockDevice;
use crate::cli::{Command, UsageError};
use crate::overwrite_guard::{Usage, UsageKind};

/// `/dev/a` with an ext4 superblock magic at byte 1080.
fn world_with_ext4() -> World {
    let world = World::new(&["/dev/a", "/dev/b"]);
    let mut sector = vec![0u8; 512];
    sector[56..58].copy_from_slice(&[0x53, 0xef]);
    world.devices["/dev/a"]
        .write_sector(2, &sector)
        .expect("plant ext4");
    world
}

#[test]
fn force_is_parsed_for_create_only() {
    assert_eq!(
        parse("-d x create --force").expect("parse").command,
        Command::Create { force: true }
    );
    assert_eq!(
        parse("--force -d x create").expect("parse").command,
        Command::Create { force: true }
    );
    assert_eq!(
        parse("-d x --force list"),
        Err(UsageError::ForceNeedsCreate)
    );
}

#[test]
fn a_filesystem_is_refused_unless_forced() {
    let mut world = world_with_ext4();
    let writes = world.devices["/dev/a"].write_count();
    let (code, out, err) = world.run("-d /dev/a -d /dev/b create");
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("/dev/a holds an ext2/3/4 filesystem (magic 0xEF53 at byte 1080)"),
        "{err}"
    );
    assert!(err.contains("give --force"), "{err}");
    assert!(err.contains("==Device /dev/a NOT initialized"), "{err}");
    assert_eq!(world.devices["/dev/a"].write_count(), writes, "untouched");
    assert!(
        out.contains("Device /dev/b is initialized."),
        "the other one is: {out}"
    );

    let (code, out, err) = world.run("-d /dev/a create --force");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Device /dev/a is initialized."), "{out}");
    // An sbd device is overwritten without force, as ClusterLabs scripts expect.
    assert_eq!(world.run("-d /dev/a create").0, 0);
}

#[test]
fn a_device_in_use_is_refused_even_forced() {
    let mut world = World::new(&["/dev/a"]);
    world.in_use.insert(
        "/dev/a".into(),
        vec![Usage {
            device: "/dev/a".into(),
            via_loop: false,
            kind: UsageKind::Swap,
        }],
    );
    for line in ["-d /dev/a create", "-d /dev/a create --force"] {
        let (code, _, err) = world.run(line);
        assert_eq!(code, 1, "{line}");
        assert!(err.contains("/dev/a is in use: active swap;"), "{err}");
        assert!(err.contains("--force does not override this"), "{err}");
    }
    assert_eq!(world.devices["/dev/a"].write_count(), 0);
}
