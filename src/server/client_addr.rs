//! Who a request comes from, for the per-client rate limits. The TCP peer, unless the peer is one
//! of our reverse proxies (`TrustedProxies`): then the address that proxy saw, read from
//! `X-Forwarded-For`. Anyone can send that header, so it is read only from a trusted peer, and
//! only as far as the hops our own proxies appended: walking from the right, the first hop that
//! is not a trusted proxy is the client; what lies left of it is the client's to write.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use leptos::prelude::use_context;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// One CIDR block: an address and how many of its leading bits a member shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a block of one).
    fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an IP address or a CIDR block"))?;
        let bits = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {bits}"))?,
        };
        let cidr = Cidr { network, prefix };
        // A typo as often as not (`10.0.0.1/8` for `10.0.0.0/8`): refused, naming the block.
        let masked = cidr.masked(network);
        if masked != network {
            return Err(format!(
                "`{text}` has bits set past its prefix; the block is `{masked}/{prefix}`"
            ));
        }
        Ok(cidr)
    }

    /// `ip` with the bits past this block's prefix cleared.
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }
}

/// The reverse proxies whose `X-Forwarded-For` we believe. None by default: without a proxy,
/// the header is whatever the client wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// A configuration line: CIDR blocks or bare addresses, comma-separated (`10.0.0.0/8,
    /// 2001:db8::1`); blank for none. The error names the entry.
    pub fn parse(line: &str) -> Result<TrustedProxies, String> {
        if line.trim().is_empty() {
            return Ok(TrustedProxies::default());
        }
        line.split(',')
            .map(|entry| match entry.trim() {
                "" => Err("an empty entry (two commas in a row, or one at an end)".to_string()),
                entry => Cidr::parse(entry),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|cidr| cidr.contains(ip))
    }
}

/// The client's address: `peer` (the TCP peer) unless it is a trusted proxy; then the right-most
/// `X-Forwarded-For` hop that is not a trusted proxy, or the left-most hop when all are. A hop
/// that is not an address (a port, `unknown`, an obfuscated name) ends the walk at `peer`: we
/// cannot tell who is behind it. IPv4-mapped IPv6 addresses are read as the IPv4 address.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut leftmost = None;
    // Several headers read as one list, in order.
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.rsplit(',') {
            let Ok(hop) = hop.trim().parse::<IpAddr>() else {
                return peer;
            };
            let hop = hop.to_canonical();
            if !trusted.contains(hop) {
                return hop;
            }
            leftmost = Some(hop);
        }
    }
    leftmost.unwrap_or(peer)
}

/// What the per-client rate limits count by: an IPv4 address, or an IPv6 address's /64. One
/// IPv6 host is usually given a whole /64, so counting single addresses would give it 2^64
/// budgets. Its network (the IPv4 /24, the IPv6 /48) is counted too: one site's allocation
/// holds 65,536 /64s, and a guesser who rents one must not get 65,536 budgets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    client: String,
    network: String,
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        let (client, network) = match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let net = Ipv4Addr::from(u32::from(v4) & 0xffff_ff00);
                (v4.to_string(), format!("{net}/24"))
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let client = Ipv6Addr::from(bits & !u128::from(u64::MAX));
                let net = Ipv6Addr::from(bits & (u128::MAX << 80));
                (format!("{client}/64"), format!("{net}/48"))
            }
        };
        ClientKey { client, network }
    }

    pub fn as_str(&self) -> &str {
        &self.client
    }

    /// The client's network: its IPv4 /24 or IPv6 /48.
    pub fn network(&self) -> &str {
        &self.network
    }
}

/// The client of the request being served: the TCP peer our listener recorded (`http.rs`),
/// or who a trusted proxy says is behind it.
fn of_parts(parts: &Parts, trusted: &TrustedProxies) -> ClientKey {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    ClientKey::of(resolve(peer, &parts.headers, trusted))
}

/// The client of a server function's request.
pub fn of_server_fn(trusted: &TrustedProxies) -> ClientKey {
    match use_context::<Parts>() {
        Some(parts) => of_parts(&parts, trusted),
        None => ClientKey::of(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
    }
}

/// An axum route's client, as an extractor: it needs only the trusted proxies from the state.
impl<S> FromRequestParts<S> for ClientKey
where
    Arc<TrustedProxies>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(of_parts(parts, &Arc::<TrustedProxies>::from_ref(state)))
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(line: &str) -> TrustedProxies {
        TrustedProxies::parse(line).unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn a_proxy_list_takes_blocks_and_bare_addresses_of_both_families() {
        let proxies = trusted(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32, ::1");
        for inside in [
            "10.0.0.1",
            "10.255.255.255",
            "192.168.1.7",
            "2001:db8:ffff::1",
            "::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(proxies.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.0", "192.168.1.8", "2001:db9::1", "::2", "0.0.0.0"] {
            assert!(!proxies.contains(ip(outside)), "{outside}");
        }
        assert_eq!(TrustedProxies::parse("  "), Ok(TrustedProxies::default()));
        assert!(trusted("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!trusted("0.0.0.0/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn a_client_is_its_address_or_64_and_its_network_the_24_or_48() {
        let v4 = ClientKey::of(ip("198.51.100.7"));
        assert_eq!(
            (v4.as_str(), v4.network()),
            ("198.51.100.7", "198.51.100.0/24")
        );
        let v6 = ClientKey::of(ip("2001:db8:1:2:3:4:5:6"));
        assert_eq!(
            (v6.as_str(), v6.network()),
            ("2001:db8:1:2::/64", "2001:db8:1::/48")
        );
        let mapped = ClientKey::of(ip("::ffff:198.51.100.9"));
        assert_eq!(mapped.network(), "198.51.100.0/24");
    }

    #[test]
    fn a_bad_proxy_entry_is_refused_by_name() {
        for (line, says) in [
            (
                "10.0.0.0/33",
                "`10.0.0.0/33`: the prefix length must be 0 to 32",
            ),
            ("::/129", "0 to 128"),
            ("10.0.0.0/-1", "0 to 32"),
            ("10.0.0.0/", "0 to 32"),
            ("proxy.internal", "`proxy.internal` is not an IP address"),
            ("10.0.0.1/8", "the block is `10.0.0.0/8`"),
            ("2001:db8::1/32", "the block is `2001:db8::/32`"),
            ("10.0.0.1,,10.0.0.2", "empty entry"),
            ("10.0.0.1,", "empty entry"),
            ("10.0.0.1:8080", "is not an IP address"),
        ] {
            let error = TrustedProxies::parse(line).unwrap_err();
            assert!(error.contains(says), "{line}: {error}");
        }
    }

    #[test]
    fn without_a_trusted_peer_the_forwarded_header_is_ignored() {
        let spoofed = forwarded(&["1.2.3.4", "5.6.7.8"]);
        let peer = ip("203.0.113.9");
        assert_eq!(resolve(peer, &spoofed, &TrustedProxies::default()), peer);
        assert_eq!(resolve(peer, &spoofed, &trusted("10.0.0.0/8")), peer);
        // Even a header naming a trusted proxy changes nothing.
        assert_eq!(
            resolve(peer, &forwarded(&["10.0.0.1"]), &trusted("10.0.0.0/8")),
            peer
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
        let proxies = trusted("10.0.0.0/8");
        let proxy = ip("10.0.0.2");
        // What the client wrote is on the left; our proxies appended the rest.
        let headers = forwarded(&["6.6.6.6, 198.51.100.4, 10.0.0.9"]);
        assert_eq!(resolve(proxy, &headers, &proxies), ip("198.51.100.4"));
        // Several headers are one list.
        let headers = forwarded(&["6.6.6.6", "198.51.100.4", "10.0.0.9"]);
        assert_eq!(resolve(proxy, &headers, &proxies), ip("198.51.100.4"));
        // Junk left of the client is the client's own and does not matter.
        let headers = forwarded(&["not an address, 198.51.100.4"]);
        assert_eq!(resolve(proxy, &headers, &proxies), ip("198.51.100.4"));
        assert_eq!(
            resolve(proxy, &forwarded(&["2001:db8::7"]), &proxies),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn when_every_hop_is_trusted_the_left_most_is_the_client() {
        let proxies = trusted("10.0.0.0/8");
        let headers = forwarded(&["10.0.0.7, 10.0.0.8"]);
        assert_eq!(resolve(ip("10.0.0.2"), &headers, &proxies), ip("10.0.0.7"));
        // No header at all: the proxy is all we know.
        assert_eq!(
            resolve(ip("10.0.0.2"), &HeaderMap::new(), &proxies),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_malformed_hop_on_the_walk_falls_back_to_the_peer() {
        let proxies = trusted("10.0.0.0/8");
        let proxy = ip("10.0.0.2");
        for value in [
            "198.51.100.4:5555",
            "[2001:db8::7]:443",
            "unknown",
            "198.51.100.4,",
            "",
            "198.51.100.4, _hidden, 10.0.0.9",
        ] {
            assert_eq!(
                resolve(proxy, &forwarded(&[value]), &proxies),
                proxy,
                "{value:?}"
            );
        }
        let mut not_text = HeaderMap::new();
        not_text.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"198.51.100.\xff").unwrap(),
        );
        assert_eq!(resolve(proxy, &not_text, &proxies), proxy);
    }

    #[test]
    fn ipv4_mapped_addresses_are_read_as_ipv4() {
        let proxies = trusted("10.0.0.0/8");
        let headers = forwarded(&["::ffff:198.51.100.4"]);
        assert_eq!(
            resolve(ip("::ffff:10.0.0.2"), &headers, &proxies),
            ip("198.51.100.4")
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:198.51.100.4")).as_str(),
            "198.51.100.4"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_ipv4_clients_by_address() {
        assert_eq!(ClientKey::of(ip("203.0.113.9")).as_str(), "203.0.113.9");
        assert_ne!(
            ClientKey::of(ip("203.0.113.9")),
            ClientKey::of(ip("203.0.113.10"))
        );
        let a = ClientKey::of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        let b = ClientKey::of(ip("2001:db8:1:2::1"));
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2001:db8:1:2::/64");
        assert_ne!(a, ClientKey::of(ip("2001:db8:1:3::1")));
    }
}
