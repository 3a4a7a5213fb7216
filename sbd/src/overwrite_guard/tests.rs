//! Unit tests of the safety probe: signatures on crafted sectors, the kernel tables'
//! text, and the decision on memory devices with a stand-in usage probe.

use super::signatures::{find, is_sbd, PROBE_LEN};
use super::usage::{parse_mountinfo, parse_swaps, DevNum, MountEntry};
use super::*;
use crate::blockdev::MemoryDevice;
use crate::disk::SbdDisk;
use crate::format::DiskTimeouts;

fn with(offset: usize, magic: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; PROBE_LEN];
    bytes[offset..offset + magic.len()].copy_from_slice(magic);
    bytes
}

#[test]
fn each_signature_is_recognised_at_its_offset() {
    let cases: Vec<(Vec<u8>, Signature)> = vec![
        (with(1080, &[0x53, 0xef]), Signature::Ext),
        (with(0, b"XFSB"), Signature::Xfs),
        (with(65600, b"_BHRfS_M"), Signature::Btrfs),
        (
            with(4086, b"SWAPSPACE2"),
            Signature::Swap { page_size: 4096 },
        ),
        (
            with(65526, b"SWAP-SPACE"),
            Signature::Swap { page_size: 65536 },
        ),
        (with(512, b"LABELONE"), Signature::Lvm2 { offset: 512 }),
        (with(1536, b"LABELONE"), Signature::Lvm2 { offset: 1536 }),
        (with(0, b"LUKS\xba\xbe"), Signature::Luks),
        (with(512, b"EFI PART"), Signature::Gpt { offset: 512 }),
        (with(4096, b"EFI PART"), Signature::Gpt { offset: 4096 }),
    ];
    for (bytes, expected) in cases {
        assert_eq!(find(&bytes), vec![expected]);
    }
    let mut mbr = with(510, &[0x55, 0xaa]);
    assert!(find(&mbr).is_empty(), "a boot signature without partitions");
    mbr[446 + 16 + 4] = 0x83; // second entry: Linux
    assert_eq!(find(&mbr), vec![Signature::Mbr]);
}

#[test]
fn nothing_is_found_on_zeroes_short_devices_or_near_misses() {
    assert!(find(&vec![0u8; PROBE_LEN]).is_empty());
    assert!(find(&[]).is_empty());
    assert!(
        find(&with(1080, &[0xef, 0x53])).is_empty(),
        "wrong byte order"
    );
    assert!(find(&with(1, b"XFSB")).is_empty());
    assert!(
        find(&with(2048, b"LABELONE")).is_empty(),
        "LVM looks in sectors 0-3"
    );
    assert!(find(&with(65600, b"_BHRfS_M")[..65000]).is_empty());
}

#[test]
fn kernel_tables_are_parsed_with_their_escapes() {
    let mountinfo = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
55 27 7:0 / /var/tmp/my\\040mnt rw,relatime - ext4 /dev/loop0 rw
60 22 0:45 / /data rw - btrfs /dev/sdb rw,space_cache
bogus line
";
    assert_eq!(
        parse_mountinfo(mountinfo),
        vec![
            MountEntry {
                dev: DevNum { major: 8, minor: 1 },
                mount_point: "/".into(),
                source: "/dev/sda1".into()
            },
            MountEntry {
                dev: DevNum { major: 7, minor: 0 },
                mount_point: "/var/tmp/my mnt".into(),
                source: "/dev/loop0".into()
            },
            MountEntry {
                dev: DevNum {
                    major: 0,
                    minor: 45
                },
                mount_point: "/data".into(),
                source: "/dev/sdb".into()
            },
        ]
    );
    // A mount point holding a control character is printed escaped.
    let evil = parse_mountinfo("1 1 7:1 / /mnt/\\033x rw - ext4 /dev/loop1 rw");
    assert_eq!(evil[0].mount_point, "/mnt/\\x1bx");
    let swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                 /dev/dm-1                               partition\t1003516\t\t0\t\t-2\n\
                 /swap\\040file                            file\t\t1024\t\t0\t\t-3\n";
    assert_eq!(
        parse_swaps(swaps),
        vec![
            std::path::PathBuf::from("/dev/dm-1"),
            std::path::PathBuf::from("/swap file")
        ]
    );
}

fn no_usage(_: &str) -> io::Result<Vec<Usage>> {
    Ok(Vec::new())
}

fn ext4_device() -> MemoryDevice {
    let device = MemoryDevice::new(512, 1024);
    let mut sector = vec![0u8; 512];
    sector[56..58].copy_from_slice(&[0x53, 0xef]); // byte 1080 = sector 2, offset 56
    device.write_sector(2, &sector).unwrap();
    device
}

#[test]
fn a_signature_is_refused_unless_forced() {
    let device = ext4_device();
    let refusal = check("/dev/x", &device, &no_usage, false).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::HoldsData { signatures, .. } if signatures == &[Signature::Ext]),
        "{refusal:?}"
    );
    let message = refusal.to_string();
    assert!(
        message.starts_with("/dev/x holds an ext2/3/4 filesystem"),
        "{message}"
    );
    assert!(message.contains("give --force"), "{message}");
    check("/dev/x", &device, &no_usage, true).unwrap();
}

#[test]
fn zeroed_and_sbd_devices_pass_without_force() {
    check("/dev/x", &MemoryDevice::new(512, 1024), &no_usage, false).unwrap();
    check("/dev/x", &MemoryDevice::new(4096, 3), &no_usage, false).unwrap();
    check("/dev/x", &MemoryDevice::new(512, 0), &no_usage, false).unwrap();
    // An sbd device, even one whose mailbox bytes happen to look like a signature.
    let device = MemoryDevice::new(512, 1024);
    SbdDisk::create(device.clone(), DiskTimeouts::default(), [1; 16]).unwrap();
    let mut sector = vec![0u8; 512];
    sector[56..58].copy_from_slice(&[0x53, 0xef]);
    device.write_sector(2, &sector).unwrap();
    assert!(is_sbd(&device.contents()));
    check("/dev/x", &device, &no_usage, false).unwrap();
}

#[test]
fn a_device_in_use_is_refused_even_forced() {
    let mounted = |_: &str| {
        Ok(vec![Usage {
            device: "/dev/loop3".into(),
            via_loop: true,
            kind: UsageKind::Mounted {
                mount_point: "/mnt".into(),
            },
        }])
    };
    for force in [false, true] {
        let refusal = check("/img", &MemoryDevice::new(512, 1024), &mounted, force).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "/img is in use: /dev/loop3 (attached to it) is mounted on /mnt; create would \
             overwrite it under its user. Unmount or release it first (--force does not \
             override this)"
        );
    }
    let unknown = |_: &str| Err(io::Error::other("cannot read /proc/self/mountinfo"));
    let refusal = check("/dev/x", &MemoryDevice::new(512, 1024), &unknown, true).unwrap_err();
    assert!(matches!(refusal, Refusal::UsageUnknown { .. }), "{refusal}");
}

#[test]
fn an_unreadable_device_is_refused() {
    let device = MemoryDevice::new(512, 1024);
    device.set_failing(true, false);
    let refusal = check("/dev/x", &device, &no_usage, false).unwrap_err();
    assert!(matches!(refusal, Refusal::Unreadable { .. }), "{refusal}");
}
