//! Property tests of fence_aws's readers of untrusted text: EC2 answers (mutations of a
//! real DescribeInstances answer and of an error answer, and random text) and the
//! credentials/config INI files. Invariants: no panic; a parsed page's instances all have
//! an id. `PROPTEST_CASES` raises the case count.

use proptest::prelude::*;
use testkit::fuzz::{self, check};

use super::config::ini_section;
use super::ec2::{error_of, parse_describe, parse_error};

const CASES: u32 = 256;

const PAGE: &str = "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>\
    <instanceId>i-1</instanceId><instanceState><name>running</name></instanceState>\
    <tagSet><item><key>Name</key><value>n</value></item></tagSet></item></instancesSet>\
    </item></reservationSet><nextToken>t</nextToken></DescribeInstancesResponse>";
const INI: &str = "[default]\naws_access_key_id = a\n[profile x]\nregion=y\n";
const ERROR: &str = "<Response><Errors><Error><Code>AuthFailure</Code><Message>m</Message>\
    </Error></Errors><RequestID>r</RequestID></Response>";

#[test]
fn ec2_answers_never_panic() {
    let texts = prop_oneof![
        fuzz::mutated_text(Just(PAGE.to_string()), 8),
        fuzz::mutated_text(Just(ERROR.to_string()), 8),
        ".{0,300}",
    ];
    check("aws ec2 answers", CASES, texts, |text| {
        if let Ok(page) = parse_describe(&text) {
            prop_assert!(page.instances.iter().all(|i| !i.id.is_empty()));
            for i in &page.instances {
                let _ = i.power();
            }
        }
        let _ = parse_error(&text);
        let _ = error_of("DescribeInstances", 400, &text).to_string();
        Ok(())
    });
}

#[test]
fn ini_files_never_panic() {
    let text = prop_oneof![fuzz::mutated_text(Just(INI.to_string()), 8), ".{0,200}",];
    check("aws ini files", CASES, text, |text| {
        let _ = ini_section(&text, "default");
        let _ = ini_section(&text, "profile x");
        Ok(())
    });
}
