/// The URL with any password (and a user name standing alone, which some brokers use as a
/// token) replaced by `****`, for logs, labels and error messages.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("****"));
            } else if !url.username().is_empty() {
                let _ = url.set_username("****");
            }
            url.to_string()
        }
        // Unparseable: it may still hold a secret; show only its scheme.
        Err(_) => match raw.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "(unparseable URL)".to_owned(),
        },
    }
}

/// `text` with every occurrence of each of `secrets` (the values `${VAR}`s expanded to)
/// replaced by `****`, the longest first so one secret inside another is masked whole.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_str(), "****"))
}

#[cfg(test)]
mod tests {
    use super::{mask, redact_url};

    #[test]
    fn masks_every_secret_the_longest_first() {
        let secrets = ["tok".to_owned(), "token-123".to_owned(), String::new()];
        assert_eq!(mask("Bearer token-123, tok, top", &secrets), "Bearer ****, ****, top");
    }

    #[test]
    fn masks_credentials() {
        assert_eq!(redact_url("redis://:s3cret@10.0.0.1:6379/0"), "redis://:****@10.0.0.1:6379/0");
        assert_eq!(redact_url("amqp://app:s3cret@mq:5672/%2f"), "amqp://app:****@mq:5672/%2f");
        assert_eq!(redact_url("redis://token@host:6379"), "redis://****@host:6379");
        assert_eq!(redact_url("redis://host:6379/1"), "redis://host:6379/1");
        assert!(!redact_url("redis://:pw@[bad").contains("pw"));
    }
}
