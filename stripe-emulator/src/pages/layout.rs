//! What every hosted page shares: the document around its content, the style sheet, and the
//! small formatting helpers (escaping, money, dates).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

/// Text and attribute values into HTML: every page builds its markup with `format!`.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `$9.00 USD per month`.
pub(super) fn recurring_label(price: &crate::store::Price) -> String {
    let interval = price
        .recurring
        .as_ref()
        .map(|r| r.interval.as_str())
        .unwrap_or("period");
    format!(
        "{} per {interval}",
        money(price.unit_amount, &price.currency)
    )
}

/// A posted form field, trimmed ("" when absent).
pub(super) fn text_field(form: &Value, key: &str) -> String {
    form.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string()
}

pub(super) fn money(amount: i64, currency: &str) -> String {
    let zero_decimal = ["jpy", "krw", "vnd", "clp"].contains(&currency);
    if zero_decimal {
        format!("{amount} {}", currency.to_uppercase())
    } else {
        format!(
            "{}.{:02} {}",
            amount / 100,
            amount % 100,
            currency.to_uppercase()
        )
    }
}

/// The style every page shares. Colours are custom properties with a dark set for
/// `prefers-color-scheme: dark`; each pair used for text meets WCAG AA (4.5:1) in both schemes,
/// and borders and the focus ring meet 3:1 against the card they sit on. Nothing is wider than
/// the viewport, so a 360 px phone never scrolls sideways.
const STYLE: &str = r#"
:root{color-scheme:light dark;
--bg:#f6f9fc;--card:#ffffff;--text:#1a1f36;--muted:#4f566b;--rule:#e3e8ee;--border:#6b7385;
--field:#ffffff;--readonly:#eef1f5;--accent:#5146e0;--on-accent:#ffffff;--link:#4338ca;
--error-text:#b42318;--error-bg:#fef3f2;--error-border:#f04438;--badge-bg:#ffde92;--badge-text:#6b3f00;
--focus:#1d4ed8;--shadow:rgb(0 0 0/.08)}
@media (prefers-color-scheme:dark){:root{
--bg:#0d1117;--card:#171c27;--text:#e6e9ef;--muted:#b0b8c6;--rule:#323a4b;--border:#8b95a7;
--field:#0f141e;--readonly:#242b3a;--accent:#a8a3ff;--on-accent:#11132b;--link:#b4b0ff;
--error-text:#ffb4ab;--error-bg:#3a1512;--error-border:#ff8a80;--badge-bg:#4a3200;--badge-text:#ffe2a6;
--focus:#8ab4ff;--shadow:rgb(0 0 0/.5)}}
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,sans-serif;line-height:1.45;background:var(--bg);color:var(--text);margin:0}
main{max-width:30rem;margin:2rem auto;background:var(--card);border-radius:12px;padding:2rem;box-shadow:0 4px 16px var(--shadow)}
@media (max-width:32rem){main{margin:0;border-radius:0;padding:1.25rem 1rem;box-shadow:none}}
h1{font-size:1.5rem;margin:.6rem 0 1rem}h2{font-size:1.2rem;margin:1.6rem 0 .6rem}h3{font-size:1.05rem;margin:0 0 .4rem}
p,li,td,th,summary{overflow-wrap:anywhere}
a{color:var(--link)}
.test{background:var(--badge-bg);color:var(--badge-text);font-size:.8rem;font-weight:700;padding:.2rem .6rem;border-radius:4px;display:inline-block;margin:0}
label{display:block;margin:.9rem 0 .3rem;font-weight:600;font-size:.9rem}
input,select{width:100%;max-width:100%;padding:.6rem;border:1px solid var(--border);border-radius:6px;font:inherit;color:var(--text);background:var(--field)}
input::placeholder{color:var(--muted);opacity:1}
input[readonly]{background:var(--readonly)}
button{margin-top:1.2rem;width:100%;padding:.8rem;border:1px solid var(--accent);border-radius:6px;background:var(--accent);color:var(--on-accent);font:inherit;font-weight:700;cursor:pointer}
button.secondary{background:var(--card);color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.error{color:var(--error-text);background:var(--error-bg);border:1px solid var(--error-border);padding:.6rem;border-radius:6px}
.row{display:flex;flex-wrap:wrap;gap:0 .8rem}.row>div{flex:1 1 8rem;min-width:0}
table{width:100%;border-collapse:collapse}
td,th{padding:.4rem;border-bottom:1px solid var(--rule);text-align:left;font-size:.9rem;vertical-align:top}
.sub{border:1px solid var(--rule);border-radius:8px;padding:1rem;margin:1rem 0}
.state,small{color:var(--muted)}
details{margin-top:1.2rem}summary{cursor:pointer;font-weight:600}
"#;

/// A whole document around `body`: every hosted page has the same head, the test-mode badge
/// and one `<main>`.
pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><title>{title}</title><style>{STYLE}</style></head><body><main><p class="test">TEST MODE — Stripe emulator</p>{body}</main></body></html>"#,
        title = escape(title),
    )
}

pub(super) fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page(
            "Not found",
            &format!("<h1>Not found</h1><p>{}</p>", escape(what)),
        )),
    )
        .into_response()
}

pub(super) fn date(ts: i64) -> String {
    // Civil date from unix seconds (Howard Hinnant's algorithm).
    let days = ts.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_a_language_a_title_a_main_landmark_and_both_colour_schemes() {
        let html = page("Checkout <test>", "<h1>Checkout</h1>");
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(html.contains("<title>Checkout &lt;test&gt;</title>"));
        assert!(html.contains("<main>") && html.contains("</main>"));
        assert!(html.contains("color-scheme:light dark"));
        assert!(html.contains("@media (prefers-color-scheme:dark)"));
        assert!(html.contains(":focus-visible{outline:3px solid"));
    }

    #[test]
    fn money_has_two_decimals_except_in_zero_decimal_currencies() {
        assert_eq!(money(29900, "usd"), "299.00 USD");
        assert_eq!(money(500, "jpy"), "500 JPY");
    }
}
