//! `ping` on memory devices, with a stand-in watcher clearing the mailbox during pauses.

use std::time::Duration;

use crate::blockdev::BlockDevice;
use crate::cli::tests::World;
use crate::format::mailbox_sector;

/// Three devices, created with msgwait 2 s, node1 in slot 0.
fn world() -> World {
    let mut world = World::new(&["/dev/a", "/dev/b", "/dev/c"]);
    world.run("-d /dev/a -d /dev/b -d /dev/c -4 2 create");
    world.run("-d /dev/a -d /dev/b -d /dev/c allocate node1");
    world.pauses.clear();
    world
}

/// A watcher that clears node1's mailbox on `paths` after `after` of pauses.
fn watcher_on(paths: &'static [&'static str], after: Duration) -> crate::cli::tests::OnPause {
    let mut waited = Duration::ZERO;
    Box::new(move |devices, pause| {
        waited += pause;
        if waited >= after {
            for path in paths {
                devices[*path]
                    .write_sector(mailbox_sector(0), &[0u8; 512])
                    .expect("clear");
            }
        }
    })
}

#[test]
fn ping_is_answered_when_the_watcher_clears_the_test_message() {
    let mut world = world();
    world.on_pause = Some(watcher_on(
        &["/dev/a", "/dev/b", "/dev/c"],
        Duration::from_millis(300),
    ));
    let (code, out, err) = world.run("-d /dev/a -d /dev/b -d /dev/c -n node2 ping node1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "node1 answered on /dev/a after about 300 ms\n\
         node1 answered on /dev/b after about 300 ms\n\
         node1 answered on /dev/c after about 300 ms\n"
    );
    assert_eq!(err, "");
    assert_eq!(
        world.pauses.len(),
        6,
        "polls every 50 ms, stops once answered"
    );
}

#[test]
fn ping_without_a_watcher_waits_msgwait_and_fails() {
    let mut world = world();
    let (code, out, err) = world.run("-d /dev/a -n node2 ping node1");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.contains("/dev/a: node1 did not answer within msgwait (2 s)"),
        "{err}"
    );
    assert!(err.contains("node1 answered on 0 of 1 devices"), "{err}");
    let waited: Duration = world.pauses.iter().sum();
    assert_eq!(waited, Duration::from_secs(2));
    // The test message stays for the watcher to find later.
    let (_, list, _) = world.run("-d /dev/a list");
    assert_eq!(list, "0\tnode1\ttest\tnode2\n");
}

#[test]
fn ping_needs_an_answer_on_more_than_half_of_the_devices() {
    let mut world = world();
    world.on_pause = Some(watcher_on(&["/dev/a", "/dev/b"], Duration::ZERO));
    let (code, _, err) = world.run("-d /dev/a -d /dev/b -d /dev/c -n node2 ping node1");
    assert_eq!(code, 0, "2 of 3: {err}");
    assert!(err.contains("/dev/c: node1 did not answer"), "{err}");

    let mut world = World::new(&["/dev/a", "/dev/b"]);
    world.run("-d /dev/a -d /dev/b -4 1 create");
    world.run("-d /dev/a -d /dev/b allocate node1");
    world.on_pause = Some(watcher_on(&["/dev/a"], Duration::ZERO));
    let (code, _, err) = world.run("-d /dev/a -d /dev/b -n node2 ping node1");
    assert_eq!(code, 1, "1 of 2 is not enough");
    assert!(err.contains("answered on 1 of 2 devices"), "{err}");
}

#[test]
fn ping_reports_a_replaced_message_and_an_unknown_node() {
    let mut world = world();
    world.on_pause = Some(Box::new(|devices, _| {
        let mut reset = vec![0u8; 512];
        reset[0] = 2;
        devices["/dev/a"]
            .write_sector(mailbox_sector(0), &reset)
            .expect("write");
    }));
    let (code, _, err) = world.run("-d /dev/a -n node2 ping node1");
    assert_eq!(code, 1);
    assert!(
        err.contains("/dev/a: the test message to node1 was replaced by reset"),
        "{err}"
    );
    let (code, _, err) = world.run("-d /dev/a -n node2 ping ghost");
    assert_eq!(code, 1);
    assert!(err.contains("node ghost not found"), "{err}");
}
