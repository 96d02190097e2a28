//! Phone numbers (SPEC 2.9): mainland mobiles `1[3-9]` + 9 digits, or landlines with an area code.
//! Parsed once into a normalised form; masking for department users lives here too.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a mainland mobile (1[3-9] and 9 digits) or a landline with its area code")]
pub struct InvalidPhone;

impl PhoneNumber {
    /// Accepts spaces, hyphens, brackets and a `+86`/`0086`/`86` prefix; stores mobiles as 11
    /// digits and landlines as `0AA-NNNNNNNN` / `0AAA-NNNNNNN`.
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        if raw.len() > 32 {
            return Err(InvalidPhone);
        }
        let mut digits = String::with_capacity(16);
        for (i, c) in raw.trim().chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' => {}
                _ => return Err(InvalidPhone),
            }
        }
        let national = digits
            .strip_prefix("0086")
            .or_else(|| {
                digits
                    .strip_prefix("86")
                    .filter(|rest| rest.len() == 11 && rest.starts_with('1'))
            })
            .unwrap_or(&digits);
        let bytes = national.as_bytes();
        if bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]) {
            return Ok(Self(national.to_owned()));
        }
        // Landlines: area codes 010 and 02X have two digits after the 0, all others three.
        if bytes.first() == Some(&b'0') && bytes.len() > 3 && bytes[1] != b'0' {
            let area_len = if bytes[1] == b'1' || bytes[1] == b'2' {
                3
            } else {
                4
            };
            let (area, local) = national.split_at(area_len);
            if (7..=8).contains(&local.len()) && !local.starts_with('0') {
                return Ok(Self(format!("{area}-{local}")));
            }
        }
        Err(InvalidPhone)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`, `010-****5678`: enough for a handler to recognise, not to dial.
    pub fn masked(&self) -> String {
        match self.0.split_once('-') {
            Some((area, local)) => format!(
                "{area}-{}{}",
                "*".repeat(local.len() - 4),
                &local[local.len() - 4..]
            ),
            None => format!("{}****{}", &self.0[..3], &self.0[7..]),
        }
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_are_normalised() {
        for raw in [
            "13812345678",
            "138 1234 5678",
            "+86 138-1234-5678",
            "0086 13812345678",
            "8613812345678",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw).unwrap().as_str(),
                "13812345678",
                "{raw}"
            );
        }
    }

    #[test]
    fn landlines_keep_their_area_code() {
        assert_eq!(
            PhoneNumber::parse("010-12345678").unwrap().as_str(),
            "010-12345678"
        );
        assert_eq!(
            PhoneNumber::parse("(021) 6123 4567").unwrap().as_str(),
            "021-61234567"
        );
        assert_eq!(
            PhoneNumber::parse("0755 8765 4321").unwrap().as_str(),
            "0755-87654321"
        );
        assert_eq!(
            PhoneNumber::parse("0571-8888888").unwrap().as_str(),
            "0571-8888888"
        );
    }

    #[test]
    fn rubbish_is_rejected() {
        for raw in [
            "",
            "12345678901",
            "1381234567",
            "138123456789",
            "abc",
            "010-1234",
            "+",
            "13812345678x",
            "00-12345678",
        ] {
            assert!(PhoneNumber::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(
            PhoneNumber::parse("13812345678").unwrap().masked(),
            "138****5678"
        );
        assert_eq!(
            PhoneNumber::parse("010-12345678").unwrap().masked(),
            "010-****5678"
        );
    }
}
