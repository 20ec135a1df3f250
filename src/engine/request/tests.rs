//! Request rendering: path values encoded, and the wire bytes the same as what loadgen wrote before it rendered
//! straight into the send buffer (the old way, a `http::Request` then its serialisation, is kept here as the
//! reference).

use super::*;
use crate::scenario::template::Var;

/// The request path as loadgen built it before: a `http::Request` from the step, then serialised.
mod old {
    use bytes::Bytes;
    use http::header::{CONTENT_TYPE, HeaderValue};
    use http::{Request, Uri};

    use super::super::{NoVars, PathValues};
    use crate::engine::client::Origin;
    use crate::plan::{Body, Step};
    use crate::scenario::template::Context;

    /// What can be built once per step instead of once per request.
    #[derive(Debug)]
    pub struct Prepared {
        /// The request target (path and query) when nothing in it varies.
        uri: Option<Uri>,
        /// The origin of a constant absolute URL; `None` means the run's target (or a URL rendered per request).
        pub origin: Option<Origin>,

        /// Header values that do not vary.
        headers: Vec<Option<HeaderValue>>,
        /// The body when it does not vary.
        body: Option<Bytes>,
    }

    impl Prepared {
        pub fn new(step: &Step, base_path: &str) -> Prepared {
            let mut uri = None;
            let mut origin = None;
            if step.path.is_constant() && step.query.iter().all(|(_, t)| t.is_constant()) {
                let mut target = String::new();
                let mut none = NoVars;
                if let Ok((o, u)) = request_target(step, base_path, &mut none, &mut target) {
                    uri = Some(u);
                    origin = o;
                }
            }
            let headers = step
                .headers
                .iter()
                .map(|(_, t)| {
                    t.is_constant()
                        .then(|| HeaderValue::try_from(t.render(&mut NoVars)).ok())
                        .flatten()
                })
                .collect();
            let body = match &step.body {
                Body::None => Some(Bytes::new()),
                Body::Json(t) => t
                    .constant()
                    .and_then(|v| serde_json::to_vec(&v).ok())
                    .map(Bytes::from),
                Body::Text(t) => t.is_constant().then(|| Bytes::from(t.render(&mut NoVars))),
                // Issue 18's bodies are newer than this reference.
                Body::Form(_) | Body::Pieces(_) => None,
            };
            Prepared {
                uri,
                origin,
                headers,
                body,
            }
        }
    }

    /// Renders the request target (`/path?query`) into `buf` and parses it; for an absolute URL also its origin.
    fn request_target(
        step: &Step,
        base_path: &str,
        ctx: &mut dyn Context,
        buf: &mut String,
    ) -> Result<(Option<Origin>, Uri), String> {
        buf.clear();
        step.path.render_into(
            &mut PathValues {
                inner: &mut *ctx,
                value: String::new(),
            },
            buf,
        );
        let mut origin = None;
        if buf.starts_with("http://") || buf.starts_with("https://") {
            let url = url::Url::parse(buf).map_err(|e| {
                format!(
                    "invalid URL from path `{}`: {e}",
                    crate::plan::request_checks::mask_userinfo(step.path.source())
                )
            })?;
            origin = Some(Origin::of(&url)?);
            let mut rest = url.path().to_string();
            if let Some(q) = url.query() {
                rest.push('?');
                rest.push_str(q);
            }
            *buf = rest;
        } else if !base_path.is_empty() {
            buf.insert_str(0, base_path);
        }
        if !step.query.is_empty() {
            let mut value = String::new();
            buf.push(if buf.contains('?') { '&' } else { '?' });
            for (i, (k, t)) in step.query.iter().enumerate() {
                if i > 0 {
                    buf.push('&');
                }
                buf.extend(url::form_urlencoded::byte_serialize(k.as_bytes()));
                buf.push('=');
                value.clear();
                t.render_into(ctx, &mut value);
                buf.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
            }
        }
        let uri = Uri::try_from(std::mem::take(buf)).map_err(|e| {
            format!(
                "invalid request path from `{}`: {e}",
                crate::plan::request_checks::mask_userinfo(step.path.source())
            )
        })?;
        Ok((origin, uri))
    }

    /// Builds the request of a step.
    pub fn build(
        step: &Step,
        prep: &Prepared,
        base_path: &str,
        ctx: &mut dyn Context,
    ) -> Result<(Option<Origin>, Request<Bytes>), String> {
        let (origin, uri) = match &prep.uri {
            Some(u) => (None, u.clone()),
            None => {
                let mut buf = String::with_capacity(64);
                request_target(step, base_path, ctx, &mut buf)?
            }
        };
        let mut req = Request::new(Bytes::new());
        *req.method_mut() = step.method.clone();
        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        for ((name, tpl), constant) in step.headers.iter().zip(&prep.headers) {
            let value = match constant {
                Some(v) => v.clone(),
                None => HeaderValue::try_from(tpl.render(ctx))
                    .map_err(|_| format!("header `{name}` rendered to an invalid value"))?,
            };
            headers.append(name.clone(), value);
        }
        let body = match (&prep.body, &step.body) {
            (Some(b), _) => b.clone(),
            (None, Body::Json(t)) => {
                Bytes::from(serde_json::to_vec(&t.render(ctx)).unwrap_or_default())
            }
            (None, Body::Text(t)) => Bytes::from(t.render(ctx)),
            (None, Body::None | Body::Form(_) | Body::Pieces(_)) => Bytes::new(),
        };
        if matches!(step.body, Body::Json(_)) && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        *req.body_mut() = body;
        Ok((origin, req))
    }

    pub fn write_request(
        cookies: &[(String, String)],
        origin: &Origin,
        req: &Request<Bytes>,
    ) -> Vec<u8> {
        let mut wbuf = Vec::new();
        let w = &mut wbuf;
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        w.extend_from_slice(req.method().as_str().as_bytes());
        w.push(b' ');
        w.extend_from_slice(target.as_bytes());
        w.extend_from_slice(b" HTTP/1.1\r\n");
        if !req.headers().contains_key(http::header::HOST) {
            w.extend_from_slice(b"host: ");
            w.extend_from_slice(origin.authority.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        let own_cookie = req.headers().get(http::header::COOKIE);
        let own_names: Vec<&[u8]> = own_cookie.map_or_else(Vec::new, |v| {
            v.as_bytes()
                .split(|&b| b == b';')
                .filter_map(|pair| pair.split(|&b| b == b'=').next())
                .map(<[u8]>::trim_ascii)
                .collect()
        });
        let jar = || {
            cookies
                .iter()
                .filter(|(n, _)| !own_names.contains(&n.as_bytes()))
        };
        if own_cookie.is_some() || jar().next().is_some() {
            w.extend_from_slice(b"cookie: ");
            let mut first = true;
            if let Some(v) = own_cookie {
                w.extend_from_slice(v.as_bytes());
                first = v.as_bytes().trim_ascii().is_empty();
            }
            for (n, v) in jar() {
                if !first {
                    w.extend_from_slice(b"; ");
                }
                first = false;
                w.extend_from_slice(n.as_bytes());
                w.push(b'=');
                w.extend_from_slice(v.as_bytes());
            }
            w.extend_from_slice(b"\r\n");
        }
        for (name, value) in req.headers() {
            if name == http::header::COOKIE {
                continue;
            }
            w.extend_from_slice(name.as_str().as_bytes());
            w.extend_from_slice(b": ");
            w.extend_from_slice(value.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        let needs_length = !req.body().is_empty()
            || matches!(
                *req.method(),
                http::Method::POST | http::Method::PUT | http::Method::PATCH
            );
        if needs_length {
            w.extend_from_slice(b"content-length: ");
            let _ = std::io::Write::write_fmt(w, format_args!("{}", req.body().len()));
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(req.body());
        wbuf
    }
}

/// Values for every variable, the same on every run: `seq` counts, so the order templates are rendered in
/// shows; `nasty` values hold what a header or a path cannot.
struct Fixed {
    seq: u64,
    nasty: bool,
}

impl Context for Fixed {
    fn write_var(&mut self, var: Var, out: &mut String) {
        self.seq += 1;
        match var {
            Var::Capture(slot) if self.nasty => {
                out.push_str(&format!("c{slot} a b\r\nx: y#frag/é?&=%"))
            }
            Var::Capture(slot) => out.push_str(&format!("tok{slot}.abc-DEF_1")),
            _ => crate::scenario::template::write_num(out, self.seq),
        }
    }
}

fn plan_of(text: &str) -> crate::plan::RunPlan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = crate::scenario::load(&path).unwrap();
    crate::plan::resolve(&loaded, &crate::plan::Overrides::default()).unwrap()
}

fn shipped(name: &str) -> crate::plan::RunPlan {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let loaded = crate::scenario::load(&path).unwrap();
    let host = crate::plan::Overrides {
        host: Some("http://127.0.0.1:9".into()),
        ..crate::plan::Overrides::default()
    };
    // A scenario meant to be given its load on the command line gets one.
    crate::plan::resolve(&loaded, &host)
        .or_else(|_| {
            let load = crate::plan::Overrides {
                users: Some(1),
                duration: Some(std::time::Duration::from_secs(1)),
                ..host.clone()
            };
            crate::plan::resolve(&loaded, &load)
        })
        .unwrap()
}

/// Every request of `plan`, rendered both ways with the same values and cookies: the same bytes, the same
/// origin and the same `Connection: close`, or the same error.
fn same_as_before(plan: &crate::plan::RunPlan) -> usize {
    let url = url::Url::parse(&plan.host).unwrap();
    let origin = Origin::of(&url).unwrap();
    let base_path = url.path().trim_end_matches('/').to_string();
    let jars: [&[(String, String)]; 3] = [
        &[],
        &[("sid".to_string(), "jar".to_string())],
        &[
            ("a".to_string(), "1".to_string()),
            ("z".to_string(), "2".to_string()),
        ],
    ];
    let mut buf = SendBuf::default();
    let mut compared = 0;
    for step in plan.steps.iter().filter(|s| s.is_request()) {
        let (new_prep, old_prep) = (
            Prepared::new(step, &base_path),
            old::Prepared::new(step, &base_path),
        );
        for nasty in [false, true] {
            for jar in jars {
                let mut a = Fixed { seq: 0, nasty };
                let mut b = Fixed { seq: 0, nasty };
                let default = new_prep.origin.as_ref().unwrap_or(&origin);
                // The jar's cookies are host-only cookies of the run's host: a request to another host gets none.
                let cookies = crate::engine::client::Jar::of_pairs(&origin, jar);
                let new = render(
                    step, &new_prep, &base_path, default, &mut a, &cookies, &mut buf,
                );
                let old = old::build(step, &old_prep, &base_path, &mut b);
                match (new, old) {
                    (Ok(r), Ok((dyn_origin, req))) => {
                        let o = dyn_origin
                            .as_ref()
                            .or(old_prep.origin.as_ref())
                            .unwrap_or(&origin);
                        let sent: &[(String, String)] =
                            if o.host == origin.host { jar } else { &[] };
                        let wire = old::write_request(sent, o, &req);
                        assert_eq!(
                            buf.wire,
                            String::from_utf8(wire).unwrap(),
                            "step {} (nasty {nasty}, jar {jar:?})",
                            step.name
                        );
                        assert_eq!(r.origin, dyn_origin, "step {}", step.name);
                        let close =
                            req.headers()
                                .get_all(http::header::CONNECTION)
                                .iter()
                                .any(|v| {
                                    v.to_str().is_ok_and(|v| {
                                        v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
                                    })
                                });
                        assert_eq!(r.close, close, "step {}", step.name);
                    }
                    (Err(e), Err(f)) => assert_eq!(e, f, "step {}", step.name),
                    (new, old) => panic!(
                        "step {}: now {:?}, before {:?}",
                        step.name,
                        new.map(|_| ()),
                        old.map(|_| ())
                    ),
                }
                assert_eq!(a.seq, b.seq, "step {}: as many values rendered", step.name);
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn the_shipped_scenarios_go_on_the_wire_byte_for_byte_as_before() {
    for name in [
        "arrival.toml",
        "auth_flow.toml",
        "baseline.toml",
        "mixed.toml",
        "soak.toml",
        "spike.toml",
        "stress.toml",
        "ultimate.toml",
    ] {
        assert!(same_as_before(&shipped(name)) > 0, "{name}");
    }
}

/// The rules of `plan::request_checks` on the wire: a request's own `Host` replaces the target's, its
/// `Cookie` and the jar's go out as one header, a JSON body gets a `Content-Type` unless it has one,
/// `Connection: close` is seen (constant or rendered), path values are percent-encoded, a fragment dropped,
/// a rendered absolute URL goes to its own origin; and varying values are rendered in the step's order.
#[test]
fn the_header_rules_and_rendered_values_go_on_the_wire_as_before() {
    let plan = plan_of(
        r#"
[target]
host = "http://127.0.0.1:9/api/"

[load]
users = 1
duration = "1s"

[[task]]
name = "own_host_and_cookie"
method = "POST"
path = "/x/{{token}}"
headers = { Host = "vhost.example", Cookie = "sid=mine; a=1", X-Seq = "{{seq}}" }
json = { a = "{{token}}", z = 1, b = [1, "{{seq}}"] }

[[task]]
name = "templated_cookie_after_others"
path = "/y#frag"
query = { q = "{{token}}", n = "1 2" }
headers = { X-First = "{{seq}}", Connection = "{{seq}}, close", Cookie = "k={{token}}", X-Last = "{{seq}}" }

[[task]]
name = "own_content_type"
method = "PUT"
path = "/z"
headers = { Content-Type = "application/merge-patch+json" }
json = { x = "{{token}}" }

[[task]]
name = "text_body_and_close"
method = "PATCH"
path = "/t?x=1"
headers = { Connection = "close" }
body = "hello {{token}} {{seq}}"

[[task]]
name = "empty_post"
method = "POST"
path = "/e"

[[task]]
name = "absolute"
path = "{{next}}"

[[task]]
name = "grab"
path = "/g"
capture = { token = "$.token", next = "$.next" }
"#,
    );
    assert!(same_as_before(&plan) >= 6 * 6);
}

#[test]
fn a_plain_target_is_exactly_what_a_uri_parser_keeps() {
    let mut refused = String::new();
    for b in 0u8..=0x7f {
        let c = b as char;
        let t = format!("/a{c}b?c{c}d{c}");
        if !plain_target(&t) {
            refused.push(c);
            continue;
        }
        let uri = Uri::try_from(t.as_str());
        assert_eq!(
            uri.ok()
                .and_then(|u| u.path_and_query().map(|p| p.as_str().to_string())),
            Some(t),
            "{c:?}"
        );
    }
    let expected: String = (0u8..=0x7f)
        .map(char::from)
        .filter(|c| !c.is_ascii_graphic() || "\"#<>`".contains(*c))
        .collect();
    assert_eq!(refused, expected);
}

#[test]
fn path_values_are_encoded_where_a_url_cannot_hold_them() {
    let mut out = String::new();
    encode_path_value("a b\r\n\0\x7f\"#<>\\^`{|}é/?&=%x", &mut out);
    assert_eq!(
        out,
        "a%20b%0D%0A%00%7F%22%23%3C%3E%5C%5E%60%7B%7C%7D%C3%A9/?&=%x"
    );
}

/// Issue 18 item 4: default headers merged under the request's own, and one that uses a capture left out until
/// the user has it.
#[test]
fn default_headers_wait_for_their_captures_and_give_way_to_the_requests_own() {
    struct Caps(bool);
    impl Context for Caps {
        fn write_var(&mut self, _: Var, out: &mut String) {
            out.push('T');
        }
        fn is_set(&self, _: Var) -> bool {
            self.0
        }
    }
    let plan = plan_of(
        r#"
[target]
host = "http://127.0.0.1:9"
headers = { X-A = "target", X-B = "target", Cookie = "s={{token}}" }
[user]
headers = { Authorization = "Bearer {{token}}", x-b = "user" }
[load]
users = 1
duration = "1s"
[[task]]
name = "t"
path = "/t"
headers = { X-A = "own" }
capture = { token = "$.t" }
"#,
    );
    let step = &plan.steps[0];
    let prep = Prepared::new(step, "");
    let origin = Origin::of(&url::Url::parse(&plan.host).unwrap()).unwrap();
    let wire = |captured: bool| {
        let mut buf = SendBuf::default();
        render(
            step,
            &prep,
            "",
            &origin,
            &mut Caps(captured),
            &Jar::default(),
            &mut buf,
        )
        .unwrap();
        buf.wire
    };
    assert_eq!(
        wire(false),
        "GET /t HTTP/1.1\r\nhost: 127.0.0.1:9\r\nx-a: own\r\nx-b: user\r\n\r\n"
    );
    assert_eq!(
        wire(true),
        "GET /t HTTP/1.1\r\nhost: 127.0.0.1:9\r\ncookie: s=T\r\nx-a: own\r\nauthorization: Bearer T\r\nx-b: user\r\n\r\n"
    );
}
