//! Following redirects (issue 17, item 4): a 301, 302, 303, 307 or 308 with a `Location` is followed, up to the
//! request's `follow_redirects` hops, and the step gets the final answer.
//!
//! Each hop's request is the one just sent, read back with [`super::wire::WireRequest`] and edited, not the step
//! rendered again (its templates' values must not be drawn twice): 301/302/303 become a GET without a body
//! (HEAD stays HEAD) and lose `Content-Type`; 307/308 keep the method and the body. `Location` is resolved against
//! the URL just requested (relative, absolute, another scheme). A hop to another origin drops `Authorization`,
//! `Proxy-Authorization`, the step's own `Cookie` value and `Host`: the credentials were meant for the first
//! origin. Every hop's cookies are the jar's for that hop's URL, so a `Set-Cookie` on a redirect (a login that
//! redirects) is sent on the next hop. Each hop goes through [`Client::exchange`], so the rule that a request is
//! never sent twice holds per hop: a POST answered 307 is sent to the new location because the server asked for
//! it, a POST whose connection died is not sent again.
//!
//! Only the hot path's cost matters here: a request that does not follow (`follow_redirects = 0`) or whose answer
//! is not a redirect costs one comparison; everything else is in the cold [`Client::follow`].

use super::wire::{WireRequest, target_of};
use super::{Answer, Client, Net, Origin, Outgoing, SendError};

/// Whether `status` is a redirect that is followed.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

impl Client {
    /// Sends the request in the send buffer to `origin` and reads its answer, following up to `max` redirects:
    /// the final answer and the number of redirects followed.
    pub async fn fetch(
        &mut self,
        net: &Net,
        origin: &Origin,
        req: &Outgoing<'_>,
        max: u32,
    ) -> Result<(Answer, u32), SendError> {
        let answer = self.exchange(net, origin, req).await?;
        if max == 0 || !is_redirect(answer.head.status) {
            return Ok((answer, 0));
        }
        // Boxed: the chain's state is kept out of every request's future, which stays as small as without.
        Box::pin(self.follow(net, origin, req, answer, max)).await
    }

    /// The redirects after `answer`, the first one's.
    async fn follow(
        &mut self,
        net: &Net,
        first: &Origin,
        req: &Outgoing<'_>,
        mut answer: Answer,
        max: u32,
    ) -> Result<(Answer, u32), SendError> {
        let mut origin = first.clone();
        let mut method = req.method.clone();
        let mut hops = 0;
        // A loop is not looked for as such: a chain may come back to a URL legitimately (a login that sets a
        // cookie and sends back to where it came from), and a real loop ends at `max` like any long chain.
        loop {
            let status = answer.head.status;
            let location = match answer.head.get("location") {
                Some(l) if is_redirect(status) => l.trim().to_string(),
                // A 3xx without a Location is an answer like any other.
                _ => return Ok((answer, hops)),
            };
            if hops == max {
                return Err(SendError::Redirect(format!("more than {max} redirects")));
            }
            let current = url::Url::parse(&format!("{}{}", origin.key, target_of(&self.send.wire)))
                .map_err(|_| {
                    SendError::Redirect("the redirected request's URL is invalid".into())
                })?;
            let next = current.join(&location).map_err(|_| {
                SendError::Redirect("a redirect whose Location is not a URL".into())
            })?;
            let next_origin = Origin::of(&next)
                .map_err(|m| SendError::Redirect(format!("a redirect to an unusable URL: {m}")))?;
            let mut target = next.path().to_string();
            if let Some(q) = next.query() {
                target.push('?');
                target.push_str(q);
            }
            let keep_body = matches!(status, 307 | 308);
            if !keep_body && method != http::Method::HEAD {
                method = http::Method::GET;
            }
            let cross = next_origin.key != origin.key;
            self.rewrite(&origin, &next_origin, &target, &method, keep_body, cross)?;
            let out = Outgoing {
                method: &method,
                close: req.close,
                keep_body: req.keep_body,
                max_body: req.max_body,
            };
            answer = self.exchange(net, &next_origin, &out).await?;
            hops += 1;
            origin = next_origin;
        }
    }

    /// Rewrites the request in the send buffer for its next hop (see the module docs for what changes).
    pub(super) fn rewrite(
        &mut self,
        from: &Origin,
        to: &Origin,
        target: &str,
        method: &http::Method,
        keep_body: bool,
        cross: bool,
    ) -> Result<(), SendError> {
        let invalid = |m: String| SendError::Redirect(format!("the redirected request: {m}"));
        let send = &mut self.send;
        let sent =
            WireRequest::parse(super::wire_bytes(&send.wire, &send.bytes)).map_err(invalid)?;
        // The step's own cookie value (first in the header) stays on its origin; the jar's are chosen again.
        let own = match sent.header("cookie") {
            Some(v) if !cross => std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.get(..send.own_cookie))
                .unwrap_or(""),
            _ => "",
        };
        let named = |name: &str| {
            own.split(';')
                .filter_map(|p| p.split('=').next())
                .any(|n| n.trim_ascii() == name)
        };
        let mut cookie = own.to_string();
        for (n, v) in self.cookies.matching(to, target) {
            if named(n) {
                continue;
            }
            if !cookie.trim_ascii().is_empty() {
                cookie.push_str("; ");
            }
            cookie.push_str(n);
            cookie.push('=');
            cookie.push_str(v);
        }
        let mut headers: Vec<(&str, &[u8])> = Vec::with_capacity(sent.headers.len() + 2);
        if cross || from.authority != to.authority {
            headers.push(("host", to.authority.as_bytes()));
        }
        let mut cookie_at = None;
        for &(n, v) in &sent.headers {
            let drop = n.eq_ignore_ascii_case("cookie")
                || n.eq_ignore_ascii_case("content-length")
                || (!keep_body && n.eq_ignore_ascii_case("content-type"))
                || ((cross || from.authority != to.authority) && n.eq_ignore_ascii_case("host"))
                || (cross
                    && (n.eq_ignore_ascii_case("authorization")
                        || n.eq_ignore_ascii_case("proxy-authorization")));
            if n.eq_ignore_ascii_case("cookie") && cookie_at.is_none() {
                cookie_at = Some(headers.len());
            }
            if !drop {
                headers.push((n, v));
            }
        }
        if !cookie.is_empty() {
            // Where the rendered request had it (after `host`), or after `host` when it had none.
            let at = cookie_at
                .unwrap_or(usize::from(!headers.is_empty()))
                .min(headers.len());
            headers.insert(at, ("cookie", cookie.as_bytes()));
        }
        let body = if keep_body { sent.body } else { b"" };
        // Issue 18 item 5: a binary body (307/308) goes on as bytes, after its head.
        let binary = match std::str::from_utf8(body) {
            Ok(_) => {
                WireRequest::write(&mut send.values, method.as_str(), target, &headers, body)
                    .map_err(invalid)?;
                None
            }
            Err(_) => {
                let m = method.as_str();
                WireRequest::write_head(&mut send.values, m, target, &headers, body.len())
                    .map_err(invalid)?;
                Some([send.values.as_bytes(), body].concat())
            }
        };
        send.own_cookie = own.len();
        match (binary, &mut send.bytes) {
            (Some(b), slot) => *slot = Some(Box::new(b)),
            (None, Some(b)) => b.clear(),
            (None, None) => {}
        }
        std::mem::swap(&mut send.wire, &mut send.values);
        Ok(())
    }
}
