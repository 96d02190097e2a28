//! Accounts: usernames, the password policy, display names, codes and the sign-in lockout rule.
//! Types here parse: a value that exists is valid.

use chrono::{DateTime, Duration, Utc};

/// A sign-in name: 3–64 of `a-z 0-9 . _ -`, stored lower-case. Citizens sign in with their
/// normalised phone number, which fits too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let value = raw.trim().to_lowercase();
        if !(3..=64).contains(&value.len()) {
            return Err("must be 3 to 64 characters");
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        {
            return Err("may contain only letters a-z, digits, '.', '_' and '-'");
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A password that meets the policy: at least 10 characters, at most 128, not the username.
/// It never implements `Debug` with its content, so it cannot reach a log by accident.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;

impl NewPassword {
    pub fn parse(raw: &str, username: &str) -> Result<Self, &'static str> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err("must be at least 10 characters");
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err("must be at most 128 characters");
        }
        if raw.trim().to_lowercase() == username.trim().to_lowercase() {
            return Err("must not be the username");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A person's or organisation's display name: 1–100 characters, no control characters.
pub fn parse_name(raw: &str, max_chars: usize) -> Result<String, &'static str> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("must not be empty");
    }
    if value.chars().count() > max_chars {
        return Err("is too long");
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(value.to_owned())
}

/// A human-readable code for departments and categories: 1–32 of `A-Z a-z 0-9 . _ -`.
pub fn parse_code(raw: &str) -> Result<String, &'static str> {
    let value = raw.trim();
    if !(1..=32).contains(&value.len()) {
        return Err("must be 1 to 32 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err("may contain only letters, digits, '.', '_' and '-'");
    }
    Ok(value.to_owned())
}

/// Failed sign-ins within `window` beyond `max_failures` lock the name for `lock_for`.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: i32,
    pub window: Duration,
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
            lock_for: Duration::minutes(15),
        }
    }
}

/// What the throttle table remembers about one submitted username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i32,
    pub window_started_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl LockoutPolicy {
    /// Seconds until the name may try again, if it is locked now.
    pub fn locked_for(&self, state: Option<&ThrottleState>, now: DateTime<Utc>) -> Option<i64> {
        let until = state?.locked_until?;
        (until > now).then(|| (until - now).num_seconds().max(1))
    }

    /// The state after one more failure at `now`.
    pub fn after_failure(
        &self,
        state: Option<&ThrottleState>,
        now: DateTime<Utc>,
    ) -> ThrottleState {
        let (failures, window_started_at) = match state {
            Some(s)
                if now - s.window_started_at < self.window
                    && s.locked_until.is_none_or(|u| u > now) =>
            {
                (s.failures + 1, s.window_started_at)
            }
            _ => (1, now),
        };
        let locked_until = (failures >= self.max_failures).then(|| now + self.lock_for);
        ThrottleState {
            failures,
            window_started_at,
            locked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_and_plain() {
        assert_eq!(
            Username::parse(" Zhang.Wei ").unwrap().as_str(),
            "zhang.wei"
        );
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("张伟").is_err());
        assert!(Username::parse("a b c").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(NewPassword::parse("short", "x").is_err());
        assert!(NewPassword::parse("zhangwei-01", "Zhangwei-01").is_err());
        assert!(NewPassword::parse(&"x".repeat(129), "u").is_err());
        assert!(
            NewPassword::parse("长城长城长城长城长城", "u").is_ok(),
            "ten characters, not ten bytes"
        );
        let password = NewPassword::parse("correct horse battery", "u").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn codes_and_names() {
        assert_eq!(parse_code(" CG-01 ").unwrap(), "CG-01");
        assert!(parse_code("城管").is_err());
        assert!(parse_code("").is_err());
        assert_eq!(parse_name(" 城市管理局 ", 100).unwrap(), "城市管理局");
        assert!(parse_name("a\u{0}b", 100).is_err());
        assert!(parse_name("   ", 100).is_err());
    }

    #[test]
    fn lockout_after_repeated_failures_then_release() {
        let policy = LockoutPolicy::default();
        let t0 = DateTime::parse_from_rfc3339("2026-11-21T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut state = None;
        for i in 0..5 {
            assert_eq!(policy.locked_for(state.as_ref(), t0), None, "attempt {i}");
            state = Some(policy.after_failure(state.as_ref(), t0 + Duration::seconds(i)));
        }
        let locked = policy.locked_for(state.as_ref(), t0 + Duration::seconds(5));
        assert!(locked.is_some_and(|s| s > 800));
        assert_eq!(
            policy.locked_for(state.as_ref(), t0 + Duration::minutes(20)),
            None
        );
        // After the lock runs out, counting starts afresh.
        let next = policy.after_failure(state.as_ref(), t0 + Duration::minutes(20));
        assert_eq!(next.failures, 1);
        assert_eq!(next.locked_until, None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let policy = LockoutPolicy::default();
        let t0 = Utc::now();
        let first = policy.after_failure(None, t0);
        let later = policy.after_failure(Some(&first), t0 + Duration::minutes(16));
        assert_eq!(later.failures, 1);
    }
}
