//! Where fence_aws finds its region, credentials and endpoints, in boto3's order:
//!
//! - region: `--region`, then `AWS_REGION` / `AWS_DEFAULT_REGION`, then the profile's
//!   `region` in the config file;
//! - credentials: `--access-key`/`--secret-key`, then `AWS_ACCESS_KEY_ID` /
//!   `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), then the profile (`AWS_PROFILE`, else
//!   `default`) in `AWS_SHARED_CREDENTIALS_FILE` (`~/.aws/credentials`) and then in
//!   `AWS_CONFIG_FILE` (`~/.aws/config`, section `[profile NAME]`), and last the instance
//!   role through the instance metadata service (fetched by the device when needed);
//! - the EC2 endpoint: `--endpoint-url` (our option; ClusterLabs has none), then
//!   `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`, else `https://ec2.REGION.amazonaws.com`;
//! - the instance metadata service: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else
//!   `http://169.254.169.254`; none at all with `AWS_EC2_METADATA_DISABLED=true`.
//!
//! Pure apart from reading the two small INI files: the environment comes in as a lookup.

use std::path::{Path, PathBuf};

use reqwest::Url;

use super::sigv4::Credentials;

/// Largest credentials/config file read (a few profiles are a few hundred bytes).
const MAX_FILE: u64 = 64 * 1024;

/// Why the options and environment do not make a usable configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no region: give --region (or set AWS_DEFAULT_REGION, or region in the profile)")]
    NoRegion,
    #[error("the region {0:?} is not a region name (letters, digits and dashes)")]
    BadRegion(String),
    #[error("--access-key and --secret-key go together: only one of them was given")]
    HalfKey,
    #[error("{what} {url:?} is not an http:// or https:// URL without path or query")]
    BadUrl { what: &'static str, url: String },
}

/// Where credentials came from, for messages (never the credentials themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Parameters,
    Environment,
    Profile {
        file: PathBuf,
        profile: String,
    },
    /// Not found anywhere: the device asks the instance metadata service for the
    /// instance role's credentials.
    InstanceRole,
}

/// Everything but the credentials of the instance role.
#[derive(Debug, Clone)]
pub struct Config {
    pub region: String,
    pub endpoint: Url,
    /// `None` when the instance metadata service is disabled.
    pub metadata: Option<Url>,
    pub credentials: Option<Credentials>,
    pub source: Source,
}

/// The environment as a lookup (empty values count as unset).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

/// `key = value` of section `section` of an INI text (`#`/`;` comments).
pub fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

fn read_small(path: &Path) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

fn lookup(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// Credentials in one section, if it has both keys.
fn credentials_in(pairs: &[(String, String)]) -> Option<Credentials> {
    Some(Credentials {
        access_key: lookup(pairs, "aws_access_key_id")?,
        secret_key: lookup(pairs, "aws_secret_access_key")?,
        token: lookup(pairs, "aws_session_token"),
    })
}

/// An endpoint URL: http(s), a host, nothing after the path `/`.
pub fn endpoint_url(what: &'static str, text: &str) -> Result<Url, ConfigError> {
    let bad = || ConfigError::BadUrl {
        what,
        url: text.to_string(),
    };
    let url = Url::parse(text.trim()).map_err(|_| bad())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.path() == "/"
        && url.query().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if plain {
        Ok(url)
    } else {
        Err(bad())
    }
}

/// The default EC2 endpoint of a region.
fn regional_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ec2.{region}.{suffix}")
}

/// Resolve the configuration from the options (`region`, `access_key`, `secret_key`,
/// `endpoint_url` as given) and the environment.
pub fn resolve(
    option: &dyn Fn(&str) -> Option<String>,
    env: Env<'_>,
) -> Result<Config, ConfigError> {
    let home = var(env, "HOME").map(PathBuf::from);
    let in_home = |name: &str| home.as_ref().map(|h| h.join(".aws").join(name));
    let profile = var(env, "AWS_PROFILE").unwrap_or_else(|| "default".into());
    let credentials_file = var(env, "AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| in_home("credentials"));
    let config_file = var(env, "AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| in_home("config"));
    let config_section = if profile == "default" {
        "default".to_string()
    } else {
        format!("profile {profile}")
    };
    let config_pairs = config_file
        .as_deref()
        .and_then(read_small)
        .map(|t| ini_section(&t, &config_section))
        .unwrap_or_default();

    let region = option("region")
        .filter(|r| !r.is_empty())
        .or_else(|| var(env, "AWS_REGION"))
        .or_else(|| var(env, "AWS_DEFAULT_REGION"))
        .or_else(|| lookup(&config_pairs, "region"))
        .ok_or(ConfigError::NoRegion)?;
    if !region
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ConfigError::BadRegion(region));
    }

    let (credentials, source) = match (option("access_key"), option("secret_key")) {
        (Some(a), Some(s)) => (
            Some(Credentials {
                access_key: a,
                secret_key: s,
                token: None,
            }),
            Source::Parameters,
        ),
        (Some(_), None) | (None, Some(_)) => return Err(ConfigError::HalfKey),
        (None, None) => {
            let from_env = match (
                var(env, "AWS_ACCESS_KEY_ID"),
                var(env, "AWS_SECRET_ACCESS_KEY"),
            ) {
                (Some(a), Some(s)) => Some(Credentials {
                    access_key: a,
                    secret_key: s,
                    token: var(env, "AWS_SESSION_TOKEN"),
                }),
                _ => None,
            };
            let from_file = |file: &Option<PathBuf>, section: &str| {
                let file = file.as_ref()?;
                let creds = credentials_in(&ini_section(&read_small(file)?, section))?;
                Some((
                    Some(creds),
                    Source::Profile {
                        file: file.clone(),
                        profile: profile.clone(),
                    },
                ))
            };
            match from_env {
                Some(c) => (Some(c), Source::Environment),
                None => from_file(&credentials_file, &profile)
                    .or_else(|| from_file(&config_file, &config_section))
                    .unwrap_or((None, Source::InstanceRole)),
            }
        }
    };

    let endpoint_text = option("endpoint_url")
        .filter(|e| !e.is_empty())
        .or_else(|| var(env, "AWS_ENDPOINT_URL_EC2"))
        .or_else(|| var(env, "AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| regional_endpoint(&region));
    let endpoint = endpoint_url("the EC2 endpoint", &endpoint_text)?;
    let disabled =
        var(env, "AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let metadata = if disabled {
        None
    } else {
        let text = var(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or_else(|| "http://169.254.169.254".into());
        Some(endpoint_url("the instance metadata endpoint", &text)?)
    };
    Ok(Config {
        region,
        endpoint,
        metadata,
        credentials,
        source,
    })
}

/// The Host header of a URL as the HTTP client sends it (`host` or `host:port` when the
/// port is not the scheme's default): what SigV4 signs.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(opts: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let opts: HashMap<String, String> = opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&|k| opts.get(k).cloned(), &|k| env.get(k).cloned())
    }

    #[test]
    fn parameters_win_and_endpoint_defaults_to_the_region() {
        let c = resolve_with(
            &[
                ("region", "eu-west-1"),
                ("access_key", "A"),
                ("secret_key", "S"),
            ],
            &[
                ("AWS_ACCESS_KEY_ID", "envA"),
                ("AWS_SECRET_ACCESS_KEY", "envS"),
            ],
        )
        .unwrap();
        assert_eq!(c.source, Source::Parameters);
        assert_eq!(c.credentials.unwrap().access_key, "A");
        assert_eq!(c.endpoint.as_str(), "https://ec2.eu-west-1.amazonaws.com/");
        assert_eq!(c.metadata.unwrap().as_str(), "http://169.254.169.254/");
        let cn = resolve_with(&[("region", "cn-north-1")], &[]).unwrap();
        assert_eq!(
            cn.endpoint.as_str(),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(cn.source, Source::InstanceRole);
    }

    #[test]
    fn environment_then_profiles() {
        let env = [
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_ACCESS_KEY_ID", "envA"),
            ("AWS_SECRET_ACCESS_KEY", "envS"),
            ("AWS_SESSION_TOKEN", "tok"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:15500"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let c = resolve_with(&[], &env).unwrap();
        assert_eq!(c.region, "us-east-2");
        assert_eq!(c.source, Source::Environment);
        assert_eq!(c.credentials.unwrap().token.as_deref(), Some("tok"));
        assert_eq!(host_header(&c.endpoint), "127.0.0.1:15500");
        assert_eq!(c.metadata, None);

        let dir = std::env::temp_dir().join(format!("palisade-aws-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".aws")).unwrap();
        std::fs::write(
            dir.join(".aws/credentials"),
            "[default]\naws_access_key_id = dA\naws_secret_access_key = dS\n\
             # comment\n[fence]\naws_access_key_id=fA\naws_secret_access_key=fS\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(".aws/config"),
            "[default]\nregion = eu-central-1\n[profile fence]\nregion=ap-south-1\n",
        )
        .unwrap();
        let home = dir.to_str().unwrap();
        let c = resolve_with(&[], &[("HOME", home)]).unwrap();
        assert_eq!(
            (
                c.region.as_str(),
                c.credentials.unwrap().access_key.as_str()
            ),
            ("eu-central-1", "dA")
        );
        let c = resolve_with(&[], &[("HOME", home), ("AWS_PROFILE", "fence")]).unwrap();
        assert_eq!(
            (
                c.region.as_str(),
                c.credentials.unwrap().access_key.as_str()
            ),
            ("ap-south-1", "fA")
        );
        assert!(matches!(c.source, Source::Profile { profile, .. } if profile == "fence"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert_eq!(resolve_with(&[], &[]).unwrap_err(), ConfigError::NoRegion);
        assert_eq!(
            resolve_with(&[("region", "us-east-1"), ("access_key", "A")], &[]).unwrap_err(),
            ConfigError::HalfKey
        );
        assert!(matches!(
            resolve_with(&[("region", "us-east-1/../x")], &[]).unwrap_err(),
            ConfigError::BadRegion(_)
        ));
        for url in [
            "ftp://x",
            "http://",
            "http://h/path",
            "http://h/?q",
            "http://u:p@h/",
            "h:1",
        ] {
            assert!(
                resolve_with(&[("region", "us-east-1"), ("endpoint_url", url)], &[]).is_err(),
                "{url}"
            );
        }
    }
}
