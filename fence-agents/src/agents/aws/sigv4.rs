//! AWS Signature Version 4 for the EC2 query API: the `Authorization`, `X-Amz-Date` and
//! (with temporary credentials) `X-Amz-Security-Token` headers of one POST whose body is
//! the form-encoded query. Pure: the caller gives the time; checked against signatures
//! botocore computes for the same request.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// The content type every query request is sent and signed with.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Access key, secret key and, for temporary credentials, the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the key id: the secret and the token never reach a log or a message.
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// `20261204T213005Z` and `20261204` of a time (UTC).
pub fn amz_date(now: SystemTime) -> (String, String) {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let date = format!("{y:04}{m:02}{d:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    (stamp, date)
}

/// Year, month, day of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC-SHA256 takes a key of any length: new_from_slice cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The headers to add to `POST https://<host>/` with `body` (`host` as the Host header
/// carries it: with `:port` when the port is not the scheme's default).
pub fn sign(
    creds: &Credentials,
    region: &str,
    service: &str,
    host: &str,
    body: &str,
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    let (stamp, date) = amz_date(now);
    let mut headers: Vec<(&str, String)> = vec![
        ("content-type", CONTENT_TYPE.to_string()),
        ("host", host.to_string()),
        ("x-amz-date", stamp.clone()),
    ];
    if let Some(token) = &creds.token {
        headers.push(("x-amz-security-token", token.clone()));
    }
    let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = signed.join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed}\n{}",
        hex(&Sha256::digest(body.as_bytes()))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = [region, service, "aws4_request"].iter().fold(
        hmac(format!("AWS4{}", creds.secret_key).as_bytes(), &date),
        |k, part| hmac(&k, part),
    );
    let signature = hex(&hmac(&key, &to_sign));
    let mut out = vec![
        (
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                creds.access_key
            ),
        ),
        ("X-Amz-Date", stamp),
    ];
    if let Some(token) = &creds.token {
        out.push(("X-Amz-Security-Token", token.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 2026-12-04T21:30:05Z.
    fn when() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_419_805)
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(
            amz_date(when()),
            ("20261204T213005Z".into(), "20261204".into())
        );
        assert_eq!(amz_date(UNIX_EPOCH).0, "19700101T000000Z");
        // 2000-02-29 (a leap day of a century year) and the day after.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(amz_date(leap).1, "20000229");
        assert_eq!(amz_date(leap + Duration::from_secs(86_400)).1, "20000301");
    }

    /// The same request signed by botocore 1.43 (`SigV4Auth(creds, "ec2",
    /// "eu-west-1").add_auth` with the clock at 2026-12-04T21:30:05Z).
    #[test]
    fn signatures_match_botocore() {
        let body = "Action=DescribeInstances&Filter.1.Name=instance-id&\
                    Filter.1.Value.1=i-0123456789abcdef0&Version=2016-11-15";
        let mut creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            token: None,
        };
        let host = "ec2.eu-west-1.amazonaws.com";
        let headers = sign(&creds, "eu-west-1", "ec2", host, body, when());
        assert_eq!(
            headers[0].1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/eu-west-1/ec2/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=2cb7ce54091d7cf397a6a342947fb4281ad824c92116fd6bdd631f6b00f169dc"
        );
        assert_eq!(headers[1], ("X-Amz-Date", "20261204T213005Z".to_string()));
        creds.token = Some("FQoGZXIvYXdzEXAMPLE/token+==".into());
        let headers = sign(&creds, "eu-west-1", "ec2", host, body, when());
        assert!(headers[0].1.ends_with(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
             Signature=9100a8e1f685c0b0ec991e4d9110773416f140bdad17bc9658196b2a7ded387c"
        ));
        assert_eq!(headers[2].1, "FQoGZXIvYXdzEXAMPLE/token+==");
        assert!(!format!("{creds:?}").contains("EXAMPLEKEY"));
    }
}
