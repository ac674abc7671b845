//! An email address, parsed once: trimmed, lower-cased, plausibly deliverable.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

/// The address is not one we can accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidEmail;

impl Email {
    /// Lower-cases the whole address: we compare emails case-insensitively everywhere, and one
    /// stored form keeps the unique index honest on both databases.
    ///
    /// Quotes, angle brackets and backslashes are refused though an address may quote them:
    /// the email is written into pages, mail headers and Stripe, and no one signs up with them.
    pub fn parse(raw: &str) -> Result<Email, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        let refused = |c: char| c.is_whitespace() || c.is_control() || "<>\"'\\".contains(c);
        if email.len() > 254 || email.chars().any(refused) {
            return Err(InvalidEmail);
        }
        let (local, domain) = email.split_once('@').ok_or(InvalidEmail)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(InvalidEmail);
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn implausible_addresses_are_refused() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "a@@b.com",
            "ada@.com",
            "ada@example..com",
            "<ada@example.com>",
            "a<b>@example.com",
            "\"ada\"@example.com",
            "o'hara@example.com",
            "a\\b@example.com",
            "ada@example.com\r\nbcc: eve@example.com",
            "ada\0@example.com",
            "ada\u{7f}@example.com",
            "ada\u{85}@example.com",
            "ada\u{1b}[31m@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
