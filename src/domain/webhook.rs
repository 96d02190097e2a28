//! Webhooks (SPEC 8): which timeline changes integrators hear of, how a delivery is signed, when
//! a failed one is tried again, and which addresses the server refuses to call. Pure rules; the
//! service stores and sends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use utoipa::ToSchema;

/// What an integrator hears of. The wire names (`case.registered`…) are the contract.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    eserde::Deserialize,
    ToSchema,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
)]
pub enum EventType {
    #[serde(rename = "case.registered")]
    #[strum(serialize = "case.registered")]
    CaseRegistered,
    #[serde(rename = "case.accepted")]
    #[strum(serialize = "case.accepted")]
    CaseAccepted,
    #[serde(rename = "case.rejected")]
    #[strum(serialize = "case.rejected")]
    CaseRejected,
    /// Answered by the call-taker on the spot (never dispatched).
    #[serde(rename = "case.answered")]
    #[strum(serialize = "case.answered")]
    CaseAnswered,
    #[serde(rename = "case.dispatched")]
    #[strum(serialize = "case.dispatched")]
    CaseDispatched,
    /// A department returned its assignment.
    #[serde(rename = "case.returned")]
    #[strum(serialize = "case.returned")]
    CaseReturned,
    /// A department replied.
    #[serde(rename = "case.replied")]
    #[strum(serialize = "case.replied")]
    CaseReplied,
    /// The centre reviewed a reply (approved, or sent it back).
    #[serde(rename = "case.reviewed")]
    #[strum(serialize = "case.reviewed")]
    CaseReviewed,
    #[serde(rename = "case.redone")]
    #[strum(serialize = "case.redone")]
    CaseRedone,
    #[serde(rename = "case.merged")]
    #[strum(serialize = "case.merged")]
    CaseMerged,
    #[serde(rename = "case.closed")]
    #[strum(serialize = "case.closed")]
    CaseClosed,
    #[serde(rename = "case.reopened")]
    #[strum(serialize = "case.reopened")]
    CaseReopened,
    #[serde(rename = "assignment.signed")]
    #[strum(serialize = "assignment.signed")]
    AssignmentSigned,
    #[serde(rename = "deadline.due_soon")]
    #[strum(serialize = "deadline.due_soon")]
    DeadlineDueSoon,
    #[serde(rename = "deadline.missed")]
    #[strum(serialize = "deadline.missed")]
    DeadlineMissed,
    /// An urge or a written supervision of a department.
    #[serde(rename = "supervision.created")]
    #[strum(serialize = "supervision.created")]
    SupervisionCreated,
    #[serde(rename = "extension.decided")]
    #[strum(serialize = "extension.decided")]
    ExtensionDecided,
    /// A follow-up call made (the citizen reached or not).
    #[serde(rename = "follow_up.recorded")]
    #[strum(serialize = "follow_up.recorded")]
    FollowUpRecorded,
    /// A survey invitation made: an SMS or WeChat gateway can send its link.
    #[serde(rename = "survey.issued")]
    #[strum(serialize = "survey.issued")]
    SurveyIssued,
    #[serde(rename = "survey.answered")]
    #[strum(serialize = "survey.answered")]
    SurveyAnswered,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The event a timeline action makes known, if integrators hear of it (notes, attachments,
    /// handovers and the like stay inside).
    pub fn of_action(action: &str) -> Option<Self> {
        use EventType::*;
        Some(match action {
            "registered" => CaseRegistered,
            "accepted" => CaseAccepted,
            "rejected" => CaseRejected,
            "answered_directly" => CaseAnswered,
            "dispatched" => CaseDispatched,
            "assignment_returned" => CaseReturned,
            "assignment_replied" => CaseReplied,
            "review_approved" | "reply_sent_back" => CaseReviewed,
            "redo" => CaseRedone,
            "merged" => CaseMerged,
            "closed" | "closed_after_follow_up" => CaseClosed,
            "reopened" => CaseReopened,
            "assignment_signed" => AssignmentSigned,
            "deadline_due_soon" => DeadlineDueSoon,
            "deadline_missed" => DeadlineMissed,
            "urged" | "supervised" => SupervisionCreated,
            "extension_approved" | "extension_rejected" => ExtensionDecided,
            "follow_up_recorded" | "follow_up_attempt" => FollowUpRecorded,
            "survey_issued" => SurveyIssued,
            "survey_answered" => SurveyAnswered,
            _ => return None,
        })
    }
}

/// The event types a webhook wants, stored comma-separated; none listed: every type.
pub fn parse_event_types(stored: &str) -> Vec<EventType> {
    stored
        .split(',')
        .filter_map(|name| name.trim().parse().ok())
        .collect()
}

pub fn store_event_types(types: &[EventType]) -> String {
    let mut names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

/// Whether a webhook whose stored types are `stored` takes `event`: every type when none is
/// stored; otherwise only those listed (a stored name this build does not know selects
/// nothing — a renamed type never widens a subscription to everything).
pub fn wants(stored: &str, event: EventType) -> bool {
    stored.trim().is_empty() || parse_event_types(stored).contains(&event)
}

/// The `X-Hotline-Signature` value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The
/// time inside the signed text lets a receiver refuse an old delivery replayed at it.
pub fn signature(secret: &[u8], unix_time: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(unix_time.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_time},v1={hex}")
}

/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The wait before the attempt after `attempts` failed ones: `base` doubled per failure, at most
/// an hour, then "equal jitter" (`jitter` in 0..1 takes it anywhere from half to all of it), so
/// that the deliveries of one outage do not all come back at the same instant.
pub fn retry_delay(attempts: u32, base: Duration, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    let full = base
        .saturating_mul(1u32 << doublings)
        .min(MAX_RETRY_DELAY)
        .max(base.min(MAX_RETRY_DELAY));
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Addresses a webhook may not reach unless configuration allows them: loopback, private,
/// shared (CGNAT), link-local (the cloud metadata address 169.254.169.254 among them),
/// unspecified, multicast, broadcast, documentation and the IPv6 equivalents, IPv4 mapped into
/// IPv6 judged as IPv4.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && ip.octets()[2] == 99) // 6to4 relay anycast
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    // The IPv4 address inside the 32 bits starting at segment `at`.
    let embedded = |at: usize| {
        Ipv4Addr::new(
            (s[at] >> 8) as u8,
            s[at] as u8,
            (s[at + 1] >> 8) as u8,
            s[at + 1] as u8,
        )
    };
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside some networks)
        || (first == 0x2001 && s[1] == 0x0db8) // documentation
        || (first == 0x2001 && s[1] == 0) // Teredo: tunnels to anything
        || ip.to_ipv4().is_some_and(|v4| forbidden_v4(v4) && first == 0) // IPv4-compatible
        // NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16) reach the IPv4 inside them.
        || (first == 0x0064 && s[1] == 0xff9b && forbidden_v4(embedded(6)))
        || (first == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001)
        || (first == 0x2002 && forbidden_v4(embedded(1)))
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadWebhookUrl(pub &'static str);

/// A webhook's URL, checked: absolute, `https` (plain `http` only to the hosts configuration
/// names), no user name or password in it, no fragment, at most 2,000 characters, and an IP
/// address given literally not a forbidden one unless `allow_private`. (Names are resolved and
/// checked again at each delivery: a name can change what it points to.)
pub fn check_url(
    raw: &str,
    http_hosts: &[String],
    allow_private: bool,
) -> Result<url::Url, BadWebhookUrl> {
    if raw.len() > 2000 {
        return Err(BadWebhookUrl("at most 2000 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| BadWebhookUrl("not an absolute URL"))?;
    let host = url
        .host_str()
        .ok_or(BadWebhookUrl("the URL names no host"))?
        .to_ascii_lowercase();
    match url.scheme() {
        "https" => {}
        "http" if http_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) => {}
        "http" => {
            return Err(BadWebhookUrl(
                "plain http only to the hosts HOTLINE_WEBHOOK_HTTP_HOSTS names; use https",
            ));
        }
        _ => return Err(BadWebhookUrl("the URL is not https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BadWebhookUrl("no user name or password in the URL"));
    }
    if url.fragment().is_some() {
        return Err(BadWebhookUrl("no fragment (#…) in the URL"));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    if !allow_private && literal.is_some_and(is_forbidden_address) {
        return Err(BadWebhookUrl(
            "the address is loopback, private, link-local or otherwise not public",
        ));
    }
    if !allow_private && (host == "localhost" || host.ends_with(".localhost")) {
        return Err(BadWebhookUrl("the address is loopback"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_and_has_an_action() {
        use strum::IntoEnumIterator;
        for t in EventType::iter() {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(EventType::of_action("note_added"), None);
        assert_eq!(
            EventType::of_action("closed_after_follow_up"),
            Some(EventType::CaseClosed)
        );
    }

    #[test]
    fn stored_types() {
        let types = vec![
            EventType::CaseClosed,
            EventType::CaseAccepted,
            EventType::CaseClosed,
        ];
        let stored = store_event_types(&types);
        assert_eq!(stored, "case.accepted,case.closed");
        assert_eq!(
            parse_event_types(&stored),
            vec![EventType::CaseAccepted, EventType::CaseClosed]
        );
        assert!(wants("", EventType::SurveyIssued));
        assert!(!wants("case.accepted", EventType::SurveyIssued));
        assert!(wants(
            "case.accepted,survey.issued",
            EventType::SurveyIssued
        ));
        assert!(
            !wants("case.renamed", EventType::SurveyIssued),
            "fails closed"
        );
    }

    #[test]
    fn signature_is_hmac_of_time_dot_body() {
        // Python: hmac.new(b"secret", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            signature(b"secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=".to_owned()
                + &{
                    let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
                    mac.update(b"1700000000.{}");
                    mac.finalize()
                        .into_bytes()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
        );
        assert_ne!(
            signature(b"secret", 1, b"{}"),
            signature(b"secret", 2, b"{}")
        );
    }

    #[test]
    fn retries_double_with_jitter_up_to_an_hour() {
        let base = Duration::from_secs(10);
        assert_eq!(retry_delay(1, base, 1.0), Duration::from_secs(10));
        assert_eq!(retry_delay(2, base, 1.0), Duration::from_secs(20));
        assert_eq!(retry_delay(3, base, 0.0), Duration::from_secs(20));
        assert_eq!(retry_delay(40, base, 1.0), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(40, base, 0.0), MAX_RETRY_DELAY / 2);
    }

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378::1",
            "fec0::1",
            "192.0.0.8",
        ] {
            assert!(is_forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "202.96.134.133",
            "2400:3200::1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls() {
        let none: &[String] = &[];
        assert!(check_url("https://example.com/hook", none, false).is_ok());
        assert!(check_url("http://example.com/hook", none, false).is_err());
        assert!(check_url("http://example.com/hook", &["example.com".into()], false).is_ok());
        assert!(check_url("ftp://example.com/", none, false).is_err());
        assert!(check_url("https://user:pw@example.com/", none, false).is_err());
        assert!(check_url("https://127.0.0.1/", none, false).is_err());
        assert!(check_url("https://[::1]/", none, false).is_err());
        assert!(check_url("https://169.254.169.254/latest", none, false).is_err());
        assert!(check_url("https://localhost/", none, false).is_err());
        assert!(check_url("https://127.0.0.1/", none, true).is_ok());
        assert!(check_url("not a url", none, false).is_err());
    }
}
