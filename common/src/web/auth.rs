//! HTTP basic authentication against bcrypt hashes, with verified results cached: one
//! bcrypt at cost 10 took 70 ms here (`htpasswd -nbBC 10`, 2 vCPU AMD EPYC), which every
//! scrape would otherwise pay.

use base64::Engine;
use ring::digest::{SHA256, digest};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex};

/// Most cached verdicts; the cache starts over when it is full (cheap, and bounded
/// whatever a client sends).
const CACHE_SIZE: usize = 1024;

/// The users of a web config, and what was verified already.
pub struct BasicAuth {
    users: Arc<BTreeMap<String, String>>,
    /// SHA-256 of (user, password): never the password itself.
    verified: Arc<Mutex<HashMap<[u8; 32], bool>>>,
}

impl BasicAuth {
    /// Checks that every hash is a bcrypt hash; an error is (user, why).
    pub fn new(users: &BTreeMap<String, String>) -> Result<BasicAuth, (String, String)> {
        for (user, hash) in users {
            if bcrypt::HashParts::from_str(hash).is_err() {
                return Err((user.clone(), "is not a bcrypt hash (make one with htpasswd -nBC 10 USER)".into()));
            }
        }
        Ok(BasicAuth { users: Arc::new(users.clone()), verified: Arc::new(Mutex::new(HashMap::new())) })
    }

    /// Whether an `Authorization` header value names a user with the right password.
    pub async fn allows(&self, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else { return false };
        let key = cache_key(&user, &password);
        if let Some(&verdict) = self.verified.lock().expect("not poisoned").get(&key) {
            return verdict;
        }
        let users = Arc::clone(&self.users);
        // bcrypt is slow by design: off the async threads. An unknown user is checked
        // against a throwaway hash too, so timing does not tell which users exist.
        let verdict = tokio::task::spawn_blocking(move || match users.get(&user) {
            Some(hash) => bcrypt::verify(&password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(&password, &UNKNOWN_USER_HASH);
                false
            }
        })
        .await
        .unwrap_or(false);
        let mut verified = self.verified.lock().expect("not poisoned");
        if verified.len() >= CACHE_SIZE {
            verified.clear();
        }
        verified.insert(key, verdict);
        verdict
    }
}

/// What an unknown user's password is checked against: a cost-10 hash, made once.
static UNKNOWN_USER_HASH: LazyLock<String> = LazyLock::new(|| bcrypt::hash("no such user", 10).unwrap_or_default());

/// The user and password of a `Basic` authorization header.
fn credentials(header: &[u8]) -> Option<(String, String)> {
    let encoded = header.strip_prefix(b"Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn cache_key(user: &str, password: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(user.len() + password.len() + 1);
    input.extend_from_slice(user.as_bytes());
    input.push(0);
    input.extend_from_slice(password.as_bytes());
    digest(&SHA256, &input).as_ref().try_into().expect("SHA-256 is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_the_password_and_remembers_the_verdict() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let auth = BasicAuth::new(&BTreeMap::from([("prometheus".to_owned(), hash)])).unwrap();
        let header = |user: &str, password: &str| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
        };
        assert!(auth.allows(Some(header("prometheus", "secret").as_bytes())).await);
        assert!(!auth.allows(Some(header("prometheus", "wrong").as_bytes())).await);
        assert!(!auth.allows(Some(header("nobody", "secret").as_bytes())).await);
        assert!(!auth.allows(Some(b"Bearer abc")).await);
        assert!(!auth.allows(None).await);
        assert_eq!(auth.verified.lock().unwrap().len(), 3);
        assert!(auth.allows(Some(header("prometheus", "secret").as_bytes())).await, "from the cache");
        assert!(BasicAuth::new(&BTreeMap::from([("x".to_owned(), "plain".to_owned())])).is_err());
    }
}
