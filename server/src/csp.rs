//! The Content-Security-Policy every response carries: the page runs its own scripts only.
//! Trunk's loader is an inline module script in `index.html`, allowed by its SHA-256 hash
//! (never `'unsafe-inline'`); the hash is taken from the `index.html` being served, again
//! whenever the file changes (a rebuild while the server runs).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use axum::http::HeaderValue;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The policy for the dashboard in `dist` (none: no inline script allowed at all).
pub struct Csp {
    index: Option<PathBuf>,
    /// The policy and the modification time and length of the `index.html` it was made
    /// from.
    made: Mutex<Option<((SystemTime, u64), HeaderValue)>>,
}

impl Csp {
    pub fn new(dist: Option<&Path>) -> Csp {
        Csp {
            index: dist.map(|dist| dist.join("index.html")),
            made: Mutex::new(None),
        }
    }

    /// The policy now.
    pub fn header(&self) -> HeaderValue {
        // Its time and length: a rebuild within a coarse timestamp's tick changes the length.
        let modified = self.index.as_deref().and_then(|index| {
            let meta = std::fs::metadata(index).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        });
        let Some((index, modified)) = self.index.as_deref().zip(modified) else {
            return policy(&[]);
        };
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, header)) = made.as_ref()
            && *at == modified
        {
            return header.clone();
        }
        let html = std::fs::read_to_string(index).unwrap_or_default();
        let header = policy(&inline_script_hashes(&html));
        *made = Some((modified, header.clone()));
        header
    }
}

/// `default-src 'self'`, scripts from the page's origin and the inline ones hashed,
/// WebAssembly compilation allowed (`'wasm-unsafe-eval'`), styles inline too (the page
/// positions its cards with style attributes).
fn policy(hashes: &[String]) -> HeaderValue {
    let mut script_src = String::from("'self' 'wasm-unsafe-eval'");
    for hash in hashes {
        script_src.push_str(" '");
        script_src.push_str(hash);
        script_src.push('\'');
    }
    let policy = format!(
        "default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("a policy is plain ASCII")
}

/// `sha256-…` of every inline `<script>`'s text (those without `src`), as CSP hashes them.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script") else {
            break;
        };
        if !tag.contains("src=") {
            // Hashed as the browser sees it: the HTML parser reads CR LF and CR as LF.
            let text = body[..close].replace("\r\n", "\n").replace('\r', "\n");
            let digest = Sha256::digest(text.as_bytes());
            hashes.push(format!(
                "sha256-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &body[close..];
    }
    hashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_others_are_not() {
        // The hash of `alert('Hello, world.');`, as the CSP specification gives it.
        let html = "<script src=\"/a.js\"></script><script>alert('Hello, world.');</script>";
        // Line ends as the browser reads them.
        assert_eq!(
            inline_script_hashes("<script>a;\r\nb;</script>"),
            inline_script_hashes("<script>a;\nb;</script>")
        );
        assert_eq!(
            inline_script_hashes(html),
            ["sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng="]
        );
        let header = policy(&inline_script_hashes(html));
        let text = header.to_str().unwrap();
        assert!(text.contains("'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"));
        let script_src = text
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!script_src.contains("unsafe-inline"), "{script_src}");
    }
}
