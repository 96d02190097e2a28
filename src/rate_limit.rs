//! Abuse limits for the endpoints anyone can call without a token (SPEC 8): sign-in, client
//! tokens, citizen registration, survey links, the public report and FAQ, public attachment
//! links and the Open311 facade. Each client address gets a budget of requests per minute
//! (GCRA, from the `governor` crate); past it the answer is 429 with `Retry-After`. This is apart
//! from the per-username lockout of sign-in, which stops guessing one account's password from
//! many addresses; this stops one address from trying many accounts or registering in bulk.
//!
//! Several servers: each keeps its budgets in memory, so a client that reaches all of them would
//! get the budget once per server. Instead of a shared counter (a database write on every public
//! request, and a limiter that fails with the database) the budget is split: each of
//! `HOTLINE_PUBLIC_RATE_LIMIT_SERVERS` servers grants its [`share_of`] the deployment's budget.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::startup::AppState;

/// Put first among a public handler's arguments: spends one request of the caller's budget
/// before anything else is read, or answers 429.
pub struct WithinPublicLimit;

impl FromRequest for WithinPublicLimit {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let outcome = match req.app_data::<web::Data<AppState>>() {
            Some(state) => {
                let forwarded_for = req
                    .headers()
                    .get(header::X_FORWARDED_FOR)
                    .and_then(|value| value.to_str().ok());
                state
                    .public_limit
                    .check(req.peer_addr(), forwarded_for)
                    .map(|()| Self)
            }
            None => Err(ApiError::internal("the application state is missing")),
        };
        std::future::ready(outcome)
    }
}

/// The budget of one client address on the public endpoints.
pub struct PublicRateLimit {
    /// `None` when the limit is switched off (`HOTLINE_PUBLIC_RATE_LIMIT=0`).
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    trusted_proxies: Vec<IpAddr>,
    /// Where refusals are counted, when a server's metrics watch them.
    refusals: Option<prometheus::IntCounter>,
}

impl PublicRateLimit {
    /// `per_minute` requests per address and minute, all of which may come at once; 0 switches
    /// the limit off.
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        let limiter =
            NonZeroU32::new(per_minute).map(|n| RateLimiter::dashmap(Quota::per_minute(n)));
        Self {
            limiter,
            trusted_proxies,
            refusals: None,
        }
    }

    /// Counts every refusal in `refusals`.
    pub fn counting_refusals(mut self, refusals: prometheus::IntCounter) -> Self {
        self.refusals = Some(refusals);
        self
    }

    /// Spends one request of the caller's budget, or says how long to wait.
    pub fn check(
        &self,
        peer: Option<SocketAddr>,
        forwarded_for: Option<&str>,
    ) -> Result<(), ApiError> {
        let (Some(limiter), Some(peer)) = (&self.limiter, peer) else {
            return Ok(());
        };
        let client = client_address(peer.ip(), forwarded_for, &self.trusted_proxies);
        limiter.check_key(&budget_key(client)).map_err(|not_until| {
            if let Some(refusals) = &self.refusals {
                refusals.inc();
            }
            let wait = not_until.wait_time_from(limiter.clock().now());
            ApiError::TooManyRequests {
                retry_after_secs: whole_seconds_up(wait),
            }
        })
    }

    /// Forgets addresses whose budget is full again, so that the table holds only the recently
    /// active ones however many addresses come by.
    pub fn forget_idle_clients(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The address of the client: the peer, unless the peer is a trusted proxy, in which case the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy. Entries are read from the
/// right because only those were added by our own proxies; a client can write anything on the
/// left. An entry that is not an address ends the walk at the last address known to be real.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    // IPv4 addresses mapped into IPv6 (a dual-stack listener) count as IPv4.
    let mut client = peer.to_canonical();
    if !trusted.contains(&client) {
        return client;
    }
    for hop in forwarded_for.unwrap_or_default().rsplit(',') {
        let Ok(hop) = hop.trim().parse::<IpAddr>().map(|a| a.to_canonical()) else {
            break;
        };
        client = hop;
        if !trusted.contains(&hop) {
            break;
        }
    }
    client
}

/// One server's part of a deployment's per-minute budget `total` split among `servers`:
/// `total / servers`, rounded down so that a client spreading its requests over every server gets
/// at most `total` a minute (GCRA grants its share at once, then one more every
/// `60 / share` seconds, on each server); at least 1, since 0 would mean no limit at all. With 60 a
/// minute and 3 servers, each grants 20; with 60 and 7, each grants 8 (56 in all). The price: a
/// client whose requests all reach one server (a load balancer that keeps it there) gets only
/// that server's share.
pub fn share_of(total: u32, servers: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    (total / servers.max(1)).max(1)
}

/// IPv4 addresses count one by one. An IPv6 client usually has a whole /64 to itself, so the /64
/// is what gets the budget: otherwise a single host could take a fresh address for each request.
fn budget_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

fn whole_seconds_up(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let proxies = [ip("10.0.0.2")];
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("198.51.100.1"), &proxies),
            ip("203.0.113.9"),
            "a header from an untrusted peer is ignored"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), Some("198.51.100.1"), &proxies),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), None, &proxies),
            ip("10.0.0.2"),
            "a proxy that names nobody is the client"
        );
    }

    #[test]
    fn forwarded_addresses_are_read_from_the_right_past_trusted_proxies_only() {
        let proxies = [ip("10.0.0.2"), ip("10.0.0.3")];
        // The client claims to be 1.1.1.1; our outer proxy saw 198.51.100.7.
        let header = "1.1.1.1, 198.51.100.7, 10.0.0.3";
        assert_eq!(
            client_address(ip("10.0.0.2"), Some(header), &proxies),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), Some("garbage, 10.0.0.3"), &proxies),
            ip("10.0.0.3"),
            "what cannot be read stops the walk at the last real hop"
        );
        assert_eq!(
            client_address(ip("::ffff:10.0.0.2"), Some(" 2001:db8::1 "), &proxies),
            ip("2001:db8::1"),
            "mapped IPv4 proxies are recognised, spaces are tolerated"
        );
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64_block() {
        assert_eq!(
            budget_key(ip("2001:db8:1:2:aaaa::1")),
            budget_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            budget_key(ip("2001:db8:1:2::1")),
            budget_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(budget_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn a_spent_budget_is_refused_with_the_wait_and_other_clients_are_not() {
        let limit = PublicRateLimit::new(3, Vec::new());
        let alice = Some(SocketAddr::new(ip("192.0.2.1"), 40000));
        let bob = Some(SocketAddr::new(ip("192.0.2.2"), 40000));
        for _ in 0..3 {
            limit.check(alice, None).unwrap();
        }
        match limit.check(alice, None) {
            Err(ApiError::TooManyRequests { retry_after_secs }) => {
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        limit.check(bob, None).unwrap();
        let off = PublicRateLimit::new(0, Vec::new());
        for _ in 0..100 {
            off.check(alice, None).unwrap();
        }
    }

    #[test]
    fn the_budget_is_split_among_the_servers_never_to_nothing() {
        assert_eq!(share_of(60, 1), 60);
        assert_eq!(share_of(60, 3), 20);
        assert_eq!(
            share_of(60, 7),
            8,
            "rounded down: 56 in all, never more than 60"
        );
        assert_eq!(share_of(2, 5), 1, "a share of 0 would switch the limit off");
        assert_eq!(share_of(0, 3), 0, "off stays off");
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds_up(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_up(Duration::from_secs(20)), 20);
        assert_eq!(whole_seconds_up(Duration::from_millis(20_001)), 21);
    }
}
