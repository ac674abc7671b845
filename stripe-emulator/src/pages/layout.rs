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

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>
body{{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0}}
main{{max-width:30rem;margin:2rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 4px 16px rgb(0 0 0/.08)}}
.test{{background:#ffde92;color:#7a4a00;font-size:.8rem;font-weight:700;padding:.2rem .6rem;border-radius:4px;display:inline-block}}
label{{display:block;margin:.9rem 0 .3rem;font-weight:600;font-size:.9rem}}
input,select{{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #cfd7df;border-radius:6px;font:inherit}}
input[readonly]{{background:#f0f3f7}}
button{{margin-top:1.2rem;width:100%;padding:.8rem;border:0;border-radius:6px;background:#635bff;color:#fff;font:inherit;font-weight:700;cursor:pointer}}
button.secondary{{background:#fff;color:#635bff;border:1px solid #635bff}}
.error{{color:#b42318;background:#fef3f2;border:1px solid #fecdca;padding:.6rem;border-radius:6px}}
.row{{display:flex;gap:.8rem}} .row>div{{flex:1}}
table{{width:100%;border-collapse:collapse}} td,th{{padding:.4rem;border-bottom:1px solid #e3e8ee;text-align:left;font-size:.9rem}}
.sub{{border:1px solid #e3e8ee;border-radius:8px;padding:1rem;margin:1rem 0}}
</style></head><body><main><p class="test">TEST MODE — Stripe emulator</p>{body}</main></body></html>"#,
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
