//! The claim area on real sbd images (temporary files made by our `create`) and on
//! memory devices: the slot as `sbd list` shows it, claims round trip, and two halves
//! arbitrating through one file with real time.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sbd::blockdev::{FileDevice, MemoryDevice};
use sbd::disk::{render_list, SbdDisk};
use sbd::format::DiskTimeouts;

use super::*;
use crate::cluster::disk_claim::{view_digest, ClaimState};

const KEY: &[u8] = b"tiebreak-test-key-0123456789";

/// A fresh sbd image in a temporary file (removed on drop).
struct Image(PathBuf);

impl Image {
    fn new(tag: &str) -> Image {
        let path = std::env::temp_dir().join(format!(
            "palisade-tiebreak-{tag}-{}.img",
            std::process::id()
        ));
        let file = std::fs::File::create(&path).expect("image");
        file.set_len(1 << 20).expect("size");
        let device = FileDevice::open(&path).expect("open image");
        let timeouts = DiskTimeouts {
            allocate: 0,
            ..DiskTimeouts::default()
        };
        SbdDisk::create(device, timeouts, [7; 16]).expect("create");
        Image(path)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn view(ids: &[NodeId]) -> BTreeSet<NodeId> {
    ids.iter().copied().collect()
}

#[test]
fn the_claim_lives_in_its_own_slot_as_sbd_lists_it() {
    let img = Image::new("list");
    let open = |name: &str| {
        ClaimArea::open(
            FileDevice::open(&img.0).expect("open"),
            9,
            KEY,
            name,
            &mut |_| {},
        )
        .expect("claim area")
    };
    let mut a = open("node1");
    let b = open("node2");
    assert_eq!(a.slot(), b.slot(), "both find the same slot");
    assert_eq!(a.read().expect("read"), Found::Empty);
    let claim = Claim {
        node: 2,
        incarnation: 77,
        seq: 3,
        state: ClaimState::Held,
        view: view_digest(&view(&[2, 3])),
    };
    b.write(&claim).expect("write");
    assert_eq!(a.read().expect("read"), Found::Claim(claim));
    let disk = SbdDisk::open(FileDevice::open(&img.0).expect("open")).expect("sbd");
    let listed = render_list(&disk.list().expect("list"));
    assert_eq!(
        listed,
        format!("{}\tpalisade:tiebreak\tclear\tnode2\n", a.slot())
    );
    // Another cluster's claim (or another key) is not a claim of ours.
    let mut other = ClaimArea::open(
        FileDevice::open(&img.0).expect("open"),
        10,
        KEY,
        "x",
        &mut |_| {},
    )
    .expect("area");
    assert!(matches!(other.read().expect("read"), Found::Unreadable(_)));
}

#[test]
fn a_device_without_an_sbd_header_is_refused() {
    let path = std::env::temp_dir().join(format!("palisade-tiebreak-raw-{}", std::process::id()));
    std::fs::write(&path, vec![0u8; 1 << 20]).expect("file");
    let e = DiskTieBreaker::start(&path, Duration::from_secs(1), 1, "n1", 1, 1, KEY)
        .expect_err("no header");
    let text = e.to_string();
    let _ = std::fs::remove_file(&path);
    assert!(text.contains("tie-breaker disk"), "{text}");
    let missing = DiskTieBreaker::start(
        std::path::Path::new("/nonexistent/sbd"),
        Duration::from_secs(1),
        1,
        "n1",
        1,
        1,
        KEY,
    )
    .expect_err("missing");
    assert!(
        missing.to_string().contains("/nonexistent/sbd"),
        "{missing}"
    );
}

#[test]
fn a_stalled_device_lets_the_hold_run_out() {
    let device = MemoryDevice::new(512, 2048);
    SbdDisk::create(device.clone(), DiskTimeouts::default(), [1; 16]).expect("create");
    let mut area = ClaimArea::open(device.clone(), 1, KEY, "n1", &mut |_| {}).expect("area");
    let settle = Duration::from_millis(100);
    let mut machine = ClaimMachine::new(1, 5, settle, Instant::now());
    machine.set_tie(Some(view(&[1, 2])), Instant::now());
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end && !machine.answer(Instant::now()).holds {
        if let Some(until) = step(&mut area, &mut machine, Instant::now()) {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        }
    }
    assert!(machine.answer(Instant::now()).holds, "won the empty disk");
    // Every I/O fails from now on: nothing renews the hold, which runs out.
    device.set_failing(true, true);
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        if let Some(until) = step(&mut area, &mut machine, Instant::now()) {
            std::thread::sleep(until.saturating_duration_since(Instant::now()).min(settle));
        }
    }
    let answer = machine.answer(Instant::now());
    assert!(!answer.holds, "still holding on a dead disk");
    assert!(answer.why.contains("failed"), "{}", answer.why);
}

#[test]
fn two_halves_on_one_image_one_wins_then_the_other_after_a_heal() {
    let img = Image::new("halves");
    let settle = Duration::from_millis(200);
    let start = |me: NodeId| {
        DiskTieBreaker::start(
            &img.0,
            settle,
            me,
            &format!("node{me}"),
            100 + u64::from(me),
            4,
            KEY,
        )
        .expect("start")
    };
    let (n1, n2, n3, n4) = (start(1), start(2), start(3), start(4));
    for (n, half) in [(&n1, [1, 2]), (&n2, [1, 2]), (&n3, [3, 4]), (&n4, [3, 4])] {
        n.set_tie(Some(view(&half)));
    }
    let halves = |at: Instant| {
        let a =
            n1.answer().until.is_some_and(|u| u > at) || n2.answer().until.is_some_and(|u| u > at);
        let b =
            n3.answer().until.is_some_and(|u| u > at) || n4.answer().until.is_some_and(|u| u > at);
        (a, b)
    };
    let end = Instant::now() + Duration::from_secs(4);
    let mut winner = None;
    while Instant::now() < end {
        let (a, b) = halves(Instant::now());
        assert!(!(a && b), "both halves hold the disk");
        let both_members =
            |x: &DiskTieBreaker, y: &DiskTieBreaker| x.answer().holds && y.answer().holds;
        if both_members(&n1, &n2) {
            winner = Some(0);
        } else if both_members(&n3, &n4) {
            winner = Some(1);
        }
        if winner.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let winner = winner.expect("one half holds the disk with both members");
    // The winning half heals into a whole cluster: it releases, the other half wins.
    let (w, l) = if winner == 0 {
        ((&n1, &n2), (&n3, &n4))
    } else {
        ((&n3, &n4), (&n1, &n2))
    };
    w.0.set_tie(None);
    w.1.set_tie(None);
    let end = Instant::now() + Duration::from_secs(3);
    let mut switched = false;
    while Instant::now() < end {
        let (a, b) = halves(Instant::now());
        assert!(!(a && b), "both halves hold the disk");
        if l.0.answer().holds && l.1.answer().holds {
            switched = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        switched,
        "the other half never won the released disk: {:?}",
        l.0.answer()
    );
}
