//! Who may read the dashboard: a request must name this server as its `Host` and carry the
//! access token (in the URL, `?token=`, or in the cookie the first such visit sets).
//!
//! Invariants: the token is 32 bytes from the operating system's random source, printed only
//! in the URL on stdout; it is compared in constant time; a request with a foreign or missing
//! `Host` (DNS rebinding: another site's page resolving its name to 127.0.0.1) is refused
//! before its token is looked at; the cookie is `HttpOnly; SameSite=Strict` and named after
//! the port, so dashboards on other ports neither read nor overwrite it.

use std::fs::File;
use std::io::{self, Read};

use super::http::Request;

/// The access token and the names this server answers to.
pub struct Guard {
    token: String,
    port: u16,
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It carries the token (and should get the cookie if it came in the URL).
    Allowed {
        /// The token came in the URL: set the cookie.
        set_cookie: bool,
    },
    /// The `Host` header names another server (or is missing).
    ForeignHost,
    /// No token, or a wrong one.
    NoToken,
}

impl Guard {
    /// A guard with a fresh random token, for a server on `port`.
    ///
    /// # Errors
    /// The random source cannot be read.
    pub fn new(port: u16) -> io::Result<Self> {
        let mut bytes = [0u8; 32];
        File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Guard { token, port })
    }

    /// A guard with a given token (tests).
    #[cfg(test)]
    fn with_token(token: &str, port: u16) -> Self {
        Guard {
            token: token.to_owned(),
            port,
        }
    }

    /// The token, for the printed URL.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The cookie that carries the token after the first visit.
    pub fn cookie_name(&self) -> String {
        format!("sweepstore_ui_{}", self.port)
    }

    /// The `Set-Cookie` value for a visit that brought the token in its URL.
    pub fn set_cookie(&self) -> String {
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie_name(),
            self.token
        )
    }

    /// Whether `request` may be answered.
    pub fn check(&self, request: &Request) -> Verdict {
        let host_ok = request.header("host").is_some_and(|host| {
            let port = self.port.to_string();
            ["127.0.0.1", "localhost"]
                .iter()
                .any(|name| host.eq_ignore_ascii_case(&format!("{name}:{port}")))
        });
        if !host_ok {
            return Verdict::ForeignHost;
        }
        if request.param("token").is_some_and(|t| self.matches(t)) {
            return Verdict::Allowed { set_cookie: true };
        }
        let name = self.cookie_name();
        let from_cookie = request.header("cookie").is_some_and(|cookies| {
            cookies.split(';').any(|pair| {
                pair.trim()
                    .split_once('=')
                    .is_some_and(|(n, v)| n == name && self.matches(v))
            })
        });
        if from_cookie {
            Verdict::Allowed { set_cookie: false }
        } else {
            Verdict::NoToken
        }
    }

    /// Constant-time comparison with the token.
    fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.token.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ui::http::read_request;

    fn verdict(guard: &Guard, head: &str) -> Result<Verdict, String> {
        let request = read_request(head.as_bytes()).map_err(|e| format!("{e:?}"))?;
        Ok(guard.check(&request))
    }

    #[test]
    fn only_the_token_on_our_own_host_is_let_in() -> Result<(), String> {
        let guard = Guard::with_token("abc", 8000);
        let allowed = Verdict::Allowed { set_cookie: true };
        let get = |host: &str, rest: &str| format!("GET /{rest} HTTP/1.1\r\nHost: {host}\r\n");
        let ok = verdict(&guard, &(get("127.0.0.1:8000", "?token=abc") + "\r\n"))?;
        assert_eq!(ok, allowed);
        let local = verdict(&guard, &(get("LOCALHOST:8000", "?token=abc") + "\r\n"))?;
        assert_eq!(local, allowed);
        let cookie = get("localhost:8000", "") + "Cookie: a=1; sweepstore_ui_8000=abc\r\n\r\n";
        assert_eq!(
            verdict(&guard, &cookie)?,
            Verdict::Allowed { set_cookie: false }
        );
        for (host, rest) in [
            ("evil.example:8000", "?token=abc"),
            ("127.0.0.1:9", "?token=abc"),
        ] {
            let head = get(host, rest) + "\r\n";
            assert_eq!(verdict(&guard, &head)?, Verdict::ForeignHost, "{host}");
        }
        let no_host = verdict(&guard, "GET /?token=abc HTTP/1.1\r\n\r\n")?;
        assert_eq!(no_host, Verdict::ForeignHost);
        for rest in ["", "?token=abd", "?token=ab", "?token=abcd"] {
            let head = get("127.0.0.1:8000", rest) + "\r\n";
            assert_eq!(verdict(&guard, &head)?, Verdict::NoToken, "{rest}");
        }
        let other_port = get("127.0.0.1:8000", "") + "Cookie: sweepstore_ui_9=abc\r\n\r\n";
        assert_eq!(verdict(&guard, &other_port)?, Verdict::NoToken);
        Ok(())
    }

    #[test]
    fn tokens_are_random_and_long() -> io::Result<()> {
        let (a, b) = (Guard::new(1)?, Guard::new(1)?);
        assert_eq!(a.token().len(), 64);
        assert_ne!(a.token(), b.token());
        Ok(())
    }
}
