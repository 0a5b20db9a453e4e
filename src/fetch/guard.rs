//! Keeping fetches out of private networks (server-side request forgery).
//!
//! A feed on the internet must not be able to point herald at the machine
//! it runs on or at its network: a redirect to `http://169.254.169.254/`
//! (cloud metadata), a hostname that resolves to `10.0.0.5`. So a source
//! whose configured URL is public is fetched by a client whose resolver
//! refuses loopback, private, link-local, CGNAT and unspecified addresses
//! (the check happens where the connection is made, so DNS rebinding cannot
//! slip between a check and the connect), and redirects to such IP literals
//! are refused hop by hop. A source whose configured URL is itself private
//! (an IP in those ranges, or `localhost`) is the operator's explicit
//! choice and is allowed, as is everything with
//! `http.allow_private_networks = true`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Whether `ip` is somewhere a public feed must not send us.
pub(super) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT
        || (a == 100 && (64..128).contains(&b))
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7 unique local, fe80::/10 link-local
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Whether a configured URL points into a private network by itself: the
/// operator's explicit choice.
pub(super) fn is_private_origin(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost")
        }
        None => false,
    }
}

/// The private IP literal a URL names, if it names one.
pub(super) fn private_literal(url: &Url) -> Option<IpAddr> {
    let ip = match url.host()? {
        Host::Ipv4(ip) => IpAddr::V4(ip),
        Host::Ipv6(ip) => IpAddr::V6(ip),
        Host::Domain(_) => return None,
    };
    is_private(ip).then_some(ip)
}

/// The resolver both clients use: operator pins (`[http] resolve`) first,
/// then the system resolver; the strict one drops private addresses from
/// DNS answers (pins are trusted) and fails when nothing public is left.
#[derive(Debug, Clone)]
pub(super) struct GuardedResolver {
    /// Drop private addresses from answers (the strict client).
    pub block_private: bool,
    /// `[http] resolve`: host → address, trusted as given.
    pub pins: Arc<HashMap<String, IpAddr>>,
    /// The configured proxy's host, which may be private.
    pub exempt: Option<String>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let pinned = self.pins.get(&host.to_ascii_lowercase()).copied();
        let block = self.block_private && self.exempt.as_deref() != Some(host.as_str());
        Box::pin(async move {
            let found: Vec<SocketAddr> = match pinned {
                Some(ip) => vec![SocketAddr::new(ip, 0)],
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            // A pin is the operator's explicit choice, like a private origin.
            if !block || pinned.is_some() {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let (public, private): (Vec<SocketAddr>, Vec<SocketAddr>) =
                found.into_iter().partition(|addr| !is_private(addr.ip()));
            if public.is_empty() {
                let shown = private
                    .first()
                    .map_or_else(|| "nothing".to_owned(), |a| a.ip().to_string());
                return Err(format!(
                    "{host} resolves to a private address ({shown}); set http.allow_private_networks = true to allow it"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(private.parse().expect("ip")), "{private}");
        }
        for public in ["1.1.1.1", "151.101.1.69", "100.128.0.1", "2606:4700::1111"] {
            assert!(!is_private(public.parse().expect("ip")), "{public}");
        }
    }

    #[tokio::test]
    async fn the_strict_resolver_refuses_names_that_resolve_privately() {
        let strict = GuardedResolver {
            block_private: true,
            pins: Arc::default(),
            exempt: None,
        };
        let name: Name = "localhost".parse().expect("name");
        let error = strict
            .resolve(name)
            .await
            .err()
            .expect("localhost is private");
        assert!(
            error
                .to_string()
                .starts_with("localhost resolves to a private address"),
            "{error}"
        );
        // The configured proxy's host is the operator's choice.
        let proxied = GuardedResolver {
            block_private: true,
            pins: Arc::default(),
            exempt: Some("localhost".to_owned()),
        };
        assert!(
            proxied
                .resolve("localhost".parse().expect("name"))
                .await
                .is_ok()
        );
        let open = GuardedResolver {
            block_private: false,
            pins: Arc::default(),
            exempt: None,
        };
        let addrs: Vec<SocketAddr> = open
            .resolve("localhost".parse().expect("name"))
            .await
            .expect("resolves")
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[test]
    fn origins() {
        let url = |s: &str| Url::parse(s).expect("url");
        assert!(is_private_origin(&url("http://127.0.0.1:8080/feed")));
        assert!(is_private_origin(&url("http://localhost/feed")));
        assert!(is_private_origin(&url("http://[::1]/feed")));
        assert!(!is_private_origin(&url("https://news.example/feed")));
        assert_eq!(
            private_literal(&url("http://169.254.169.254/latest")),
            Some("169.254.169.254".parse().expect("ip"))
        );
        assert_eq!(private_literal(&url("https://news.example/")), None);
    }
}
