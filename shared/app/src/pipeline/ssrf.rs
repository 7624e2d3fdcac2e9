//! The SSRF guard: webhook URLs are chosen by customers, and the service must not become a
//! proxy into its own network (the Lambda's VPC, the cloud metadata service, loopback).
//!
//! Rules, applied when an endpoint is created or changed *and* at every send:
//! * the scheme is `https` (`http` only with `AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS=1`), and the
//!   URL carries no user name or password;
//! * every address the host resolves to must be public: loopback, private (RFC 1918),
//!   link-local (incl. 169.254.169.254), CGNAT (100.64/10), unique-local (fc00::/7),
//!   unspecified, multicast, reserved and documentation ranges are refused, as are IPv6 forms
//!   that embed such an IPv4 address (mapped `::ffff:a.b.c.d`, NAT64, 6to4);
//! * the check runs on the resolved addresses and the connection goes to exactly those
//!   addresses (see `http_client`), so a name that resolves to a private address is refused,
//!   and a DNS answer that changes between check and connect (rebinding) cannot slip through.
//!
//! The flag lifts the address rules for local runs and tests, except for the cloud metadata
//! addresses, which are never a destination.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::Url;

/// Why a destination is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum SsrfError {
    /// Not a URL.
    #[error("is not a valid URL: {0}")]
    Invalid(String),
    /// Not http(s), or http without the flag.
    #[error("must use https (got {0})")]
    Scheme(String),
    /// No host.
    #[error("must name a host")]
    NoHost,
    /// `user:password@` in the URL.
    #[error("must not contain a user name or password")]
    Credentials,
    /// Resolves (or is) an address in a blocked range.
    #[error("{host} resolves to {addr}, a {range} address, which is not allowed")]
    Blocked {
        /// The host as written.
        host: String,
        /// The offending address.
        addr: IpAddr,
        /// Name of the range.
        range: &'static str,
    },
    /// DNS failed.
    #[error("{host} does not resolve: {detail}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's message.
        detail: String,
    },
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

#[allow(clippy::too_many_arguments)]
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16, len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// Addresses that are never a destination, not even with the flag.
const METADATA_V4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(169, 254, 169, 254), // EC2/ECS/EKS instance metadata
    Ipv4Addr::new(169, 254, 170, 2),   // ECS task credentials
];
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// IPv4 ranges refused without the flag (IANA special-purpose registry, minus the globally
/// reachable entries).
const BLOCKED_V4: &[(Ipv4Net, &str)] = &[
    (v4(0, 0, 0, 0, 8), "unspecified (this network)"),
    (v4(10, 0, 0, 0, 8), "private"),
    (v4(100, 64, 0, 0, 10), "CGNAT (shared)"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), "private"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignment"),
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 88, 99, 0, 24), "6to4 relay anycast"),
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(240, 0, 0, 0, 4), "reserved"),
];

/// IPv6 ranges refused without the flag. Ranges that embed an IPv4 address are handled
/// separately (the embedded address decides).
const BLOCKED_V6: &[(Ipv6Net, &str)] = &[
    (v6(0, 0, 0, 0, 0, 0, 0, 0, 128), "unspecified"),
    (v6(0, 0, 0, 0, 0, 0, 0, 1, 128), "loopback"),
    (
        v6(0, 0, 0, 0, 0, 0, 0, 0, 96),
        "IPv4-compatible (deprecated)",
    ),
    (v6(0x100, 0, 0, 0, 0, 0, 0, 0, 64), "discard-only"),
    // Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the operator's prefix
    // length, so the embedded address cannot be read; never globally routed, so refused whole.
    (v6(0x64, 0xff9b, 1, 0, 0, 0, 0, 0, 48), "NAT64 local-use"),
    (
        v6(0x2001, 0, 0, 0, 0, 0, 0, 0, 23),
        "IETF protocol assignment",
    ),
    (v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0, 32), "documentation"),
    (v6(0x3fff, 0, 0, 0, 0, 0, 0, 0, 20), "documentation"),
    (v6(0xfc00, 0, 0, 0, 0, 0, 0, 0, 7), "unique-local"),
    (v6(0xfe80, 0, 0, 0, 0, 0, 0, 0, 10), "link-local"),
    (v6(0xfec0, 0, 0, 0, 0, 0, 0, 0, 10), "site-local"),
    (v6(0xff00, 0, 0, 0, 0, 0, 0, 0, 8), "multicast"),
];

/// The IPv4 address an IPv6 address stands for, when it embeds one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-translated (SIIT, `::ffff:0:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail()),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(tail()),
        // `::` and `::1` are themselves, not IPv4-compatible forms.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => METADATA_V4.contains(&a),
        IpAddr::V6(a) => {
            a == METADATA_V6 || embedded_v4(a).is_some_and(|e| METADATA_V4.contains(&e))
        }
    }
}

/// The name of the blocked range `ip` is in, if any.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    if is_metadata(ip) {
        return Some("cloud metadata");
    }
    match ip {
        IpAddr::V4(a) => BLOCKED_V4
            .iter()
            .find(|(net, _)| net.contains(&a))
            .map(|(_, name)| *name),
        IpAddr::V6(a) => {
            if let Some(e) = embedded_v4(a) {
                return blocked_range(IpAddr::V4(e));
            }
            BLOCKED_V6
                .iter()
                .find(|(net, _)| net.contains(&a))
                .map(|(_, name)| *name)
        }
    }
}

/// The destination policy of this deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SsrfPolicy {
    /// `AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS=1`: http and private addresses allowed.
    pub allow_private: bool,
    /// Plain `http` allowed to public addresses (OTLP receivers, the OTLP export contract:
    /// "both http:// and https:// are supported"); the address rules still apply.
    pub allow_http: bool,
}

impl SsrfPolicy {
    /// The policy for a deployment's flag (https only, unless the flag is set).
    pub fn new(allow_private: bool) -> Self {
        SsrfPolicy {
            allow_private,
            allow_http: false,
        }
    }

    /// The same address rules, with plain `http` allowed (OTLP export).
    pub fn allowing_http(self) -> Self {
        SsrfPolicy {
            allow_http: true,
            ..self
        }
    }

    /// Refuses `ip` if it is in a blocked range (with the flag: only the metadata addresses).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), SsrfError> {
        let range = if self.allow_private {
            is_metadata(ip).then_some("cloud metadata")
        } else {
            blocked_range(ip)
        };
        match range {
            Some(range) => Err(SsrfError::Blocked {
                host: host.to_string(),
                addr: ip,
                range,
            }),
            None => Ok(()),
        }
    }

    /// Parses `url` and applies the rules that need no DNS: scheme, credentials, and the
    /// address when the host is an IP literal.
    pub fn check_url(&self, url: &str) -> Result<Url, SsrfError> {
        let parsed = Url::parse(url).map_err(|e| SsrfError::Invalid(e.to_string()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private || self.allow_http => {}
            other => return Err(SsrfError::Scheme(other.to_string())),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(SsrfError::Credentials);
        }
        match parsed.host() {
            None => return Err(SsrfError::NoHost),
            Some(url::Host::Ipv4(a)) => self.check_ip(&a.to_string(), IpAddr::V4(a))?,
            Some(url::Host::Ipv6(a)) => self.check_ip(&a.to_string(), IpAddr::V6(a))?,
            Some(url::Host::Domain("")) => return Err(SsrfError::NoHost),
            Some(url::Host::Domain(_)) => {}
        }
        Ok(parsed)
    }

    /// Resolves `host` and checks every address; refuses the host if any one is blocked
    /// (a name with one private address among public ones is still an attack).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| SsrfError::Resolve {
                host: host.to_string(),
                detail: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(SsrfError::Resolve {
                host: host.to_string(),
                detail: "no addresses".into(),
            });
        }
        for a in &addrs {
            self.check_ip(host, a.ip())?;
        }
        Ok(addrs)
    }

    /// All checks, DNS included: what creating or changing an endpoint runs.
    pub async fn validate(&self, url: &str) -> Result<Url, SsrfError> {
        let parsed = self.check_url(url)?;
        if let Some(url::Host::Domain(d)) = parsed.host() {
            let port = parsed.port_or_known_default().unwrap_or(443);
            self.resolve(d, port).await?;
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> SsrfPolicy {
        SsrfPolicy::new(false)
    }

    #[test]
    fn private_and_special_ranges_are_blocked() {
        for (ip, range) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "cloud metadata"),
            ("169.254.170.2", "cloud metadata"),
            ("169.254.1.1", "link-local"),
            ("100.64.0.1", "CGNAT (shared)"),
            ("100.127.255.254", "CGNAT (shared)"),
            ("0.0.0.0", "unspecified (this network)"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique-local"),
            ("fd12:3456::1", "unique-local"),
            ("fd00:ec2::254", "cloud metadata"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
            ("::ffff:0:127.0.0.1", "loopback"),
            ("::ffff:0:a9fe:a9fe", "cloud metadata"),
            ("::ffff:0:10.1.2.3", "private"),
            ("64:ff9b:1::7f00:1", "NAT64 local-use"),
            ("64:ff9b:1:a9fe:a9:fe00::", "NAT64 local-use"),
            ("2002:c0a8:0101::1", "private"),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(blocked_range(ip), Some(range), "{ip}");
            assert!(strict().check_ip("h", ip).is_err(), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(blocked_range(ip), None, "{ip}");
        }
    }

    #[test]
    fn the_flag_allows_private_but_never_metadata() {
        let open = SsrfPolicy::new(true);
        assert!(open.check_ip("h", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(open.check_ip("h", "10.0.0.1".parse().unwrap()).is_ok());
        assert!(open
            .check_ip("h", "169.254.169.254".parse().unwrap())
            .is_err());
        assert!(open.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(open
            .check_url("http://169.254.169.254/latest/meta-data")
            .is_err());
    }

    #[test]
    fn http_can_be_allowed_without_private_addresses() {
        let p = strict().allowing_http();
        assert!(p
            .check_url("http://collector.example.com:4318/v1/logs")
            .is_ok());
        assert!(p.check_url("https://collector.example.com/v1/logs").is_ok());
        assert!(matches!(
            p.check_url("http://127.0.0.1:4318/"),
            Err(SsrfError::Blocked { .. })
        ));
        assert!(matches!(
            p.check_url("http://10.0.0.8:4318/"),
            Err(SsrfError::Blocked { .. })
        ));
        assert!(matches!(
            p.check_url("ftp://collector.example.com/"),
            Err(SsrfError::Scheme(_))
        ));
        assert!(!strict().allow_http);
    }

    #[test]
    fn urls_are_checked_before_dns() {
        let p = strict();
        assert!(p.check_url("https://siem.example.com/hook").is_ok());
        assert!(matches!(
            p.check_url("http://siem.example.com/hook"),
            Err(SsrfError::Scheme(s)) if s == "http"
        ));
        assert!(matches!(
            p.check_url("ftp://siem.example.com/"),
            Err(SsrfError::Scheme(_))
        ));
        assert!(matches!(
            p.check_url("https://user:pw@siem.example.com/"),
            Err(SsrfError::Credentials)
        ));
        assert!(matches!(
            p.check_url("not a url"),
            Err(SsrfError::Invalid(_))
        ));
        // Every spelling of an internal address is caught by the URL parser's normalisation.
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00::1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
        ] {
            assert!(
                matches!(p.check_url(url), Err(SsrfError::Blocked { .. })),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        let err = strict().validate("https://localhost:8443/hook").await;
        match err {
            Err(SsrfError::Blocked { host, range, .. }) => {
                assert_eq!(host, "localhost");
                assert_eq!(range, "loopback");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(SsrfPolicy::new(true)
            .validate("http://localhost:8443/hook")
            .await
            .is_ok());
        assert!(matches!(
            strict().validate("https://does-not-exist.invalid/").await,
            Err(SsrfError::Resolve { .. })
        ));
    }
}
