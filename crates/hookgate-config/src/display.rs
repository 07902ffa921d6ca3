//! Text fit for logs and messages: URLs without their passwords, errors with their causes.

/// Query parameters whose value is a password (the Redis client reads one from either).
const SECRET_PARAMS: [&str; 2] = ["pass", "password"];

/// `raw` fit for logs and printed settings: the password of its authority (`user:password@`)
/// and the values of `pass` and `password` query parameters replaced by `***`; a string that
/// does not parse as a URL is not shown at all (`<not a URL>`), since it may be a password.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else { return "<not a URL>".to_owned() };
    if url.password().is_some() {
        // Fails only for URLs that cannot have credentials, which this one has.
        let _ = url.set_password(Some("***"));
    }
    if url.query_pairs().any(|(name, _)| SECRET_PARAMS.contains(&name.as_ref())) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if SECRET_PARAMS.contains(&name.as_ref()) { "***".to_owned() } else { value.into_owned() };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.into()
}

/// An error followed by its chain of causes, once each, on one line: `error: cause: cause`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{error_chain, redact_url};

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            ("redis://:s3cret@10.0.0.1:6379/2", "redis://:***@10.0.0.1:6379/2"),
            ("redis://user:s3cret@host", "redis://user:***@host"),
            ("redis://app:s3cret@redis/", "redis://app:***@redis/"),
            ("http://user:s3cret@host/", "http://user:***@host/"),
            ("redis://host:6380", "redis://host:6380"),
            ("redis://host:6380/0?protocol=resp3", "redis://host:6380/0?protocol=resp3"),
            ("redis+unix:///run/redis.sock?db=1&pass=s3cret", "redis+unix:///run/redis.sock?db=1&pass=***"),
            ("unix:///run/redis.sock?password=s3cret&db=1", "unix:///run/redis.sock?password=***&db=1"),
            ("redis://user:s3cret@host:port-is-not-a-number", "<not a URL>"),
            ("s3cret", "<not a URL>"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn an_error_shows_its_causes_in_order() {
        let err = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(error_chain(&err), "outer: middle: inner");
        assert_eq!(error_chain(&std::io::Error::other("alone")), "alone");
    }
}
