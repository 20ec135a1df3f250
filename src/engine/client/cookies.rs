//! A user's cookie jar: what `Set-Cookie` answers stored, sent back with the user's later requests.

use super::Head;

/// Cookies by name, in the order they were first set.
#[derive(Debug, Default)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    /// The cookies held, as (name, value).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Stores (or, when expired, deletes) what the `Set-Cookie` headers of `head` say.
    pub fn store(&mut self, head: &Head) {
        for v in head.get_all("set-cookie") {
            let Ok(s) = std::str::from_utf8(v) else {
                continue;
            };
            let mut parts = s.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let expired = parts.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("max-age=-")
            });
            self.0.retain(|(n, _)| n != name);
            if !expired {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }
}
