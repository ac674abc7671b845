//! Stripe's request bodies: `application/x-www-form-urlencoded` with nested keys
//! (`line_items[0][price]`, `discounts[0][coupon]`, `expand[]`), decoded into JSON.

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid request body: the key `{0}` is malformed.")]
pub struct FormError(pub String);

/// Decodes a body (or a query string). Every leaf is a string, as Stripe receives it; handlers
/// coerce (`"true"`, `"900"`) where the parameter has another type.
pub fn parse(input: &[u8]) -> Result<Value, FormError> {
    let mut root = Value::Object(Map::new());
    for (key, value) in url::form_urlencoded::parse(input) {
        let path = split_key(&key).ok_or_else(|| FormError(key.to_string()))?;
        insert(&mut root, &path, value.into_owned()).map_err(|()| FormError(key.to_string()))?;
    }
    Ok(arrays_from_indices(root))
}

/// `a[b][0][]` → `["a", "b", "0", ""]`; `None` for unbalanced brackets.
fn split_key(key: &str) -> Option<Vec<String>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut path = vec![head.to_string()];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let segment = &inner[..end];
        if segment.contains('[') {
            return None;
        }
        path.push(segment.to_string());
        rest = &inner[end + 1..];
    }
    Some(path)
}

/// Builds nested objects; `[]` appends with the next free index. Arrays are objects keyed by
/// index until [`arrays_from_indices`] turns them into lists.
fn insert(node: &mut Value, path: &[String], value: String) -> Result<(), ()> {
    let Value::Object(map) = node else {
        return Err(());
    };
    let key = if path[0].is_empty() {
        map.len().to_string()
    } else {
        path[0].clone()
    };
    if path.len() == 1 {
        // A repeated scalar: the last value wins. A scalar over a nested value is malformed.
        if matches!(map.get(&key), Some(Value::Object(_))) {
            return Err(());
        }
        map.insert(key, Value::String(value));
        return Ok(());
    }
    let child = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    insert(child, &path[1..], value)
}

fn arrays_from_indices(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let all_indices = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if all_indices {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(0), arrays_from_indices(v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| (k, arrays_from_indices(v)))
                        .collect(),
                )
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_keys_become_objects_and_indices_become_lists() {
        let body = b"mode=payment&line_items[0][price]=price_1&line_items[0][quantity]=1\
&line_items[1][price]=price_2&discounts[0][coupon]=SAVE&expand[]=customer&expand[]=line_items\
&metadata[plan]=pro";
        assert_eq!(
            parse(body).unwrap(),
            json!({
                "mode": "payment",
                "line_items": [{"price": "price_1", "quantity": "1"}, {"price": "price_2"}],
                "discounts": [{"coupon": "SAVE"}],
                "expand": ["customer", "line_items"],
                "metadata": {"plan": "pro"},
            })
        );
    }

    #[test]
    fn percent_encoding_and_plus_signs_are_decoded() {
        let v = parse(
            b"success_url=https%3A%2F%2Fx.test%2Fok%3Fid%3D%7BCHECKOUT_SESSION_ID%7D&name=A+B",
        )
        .unwrap();
        assert_eq!(
            v["success_url"],
            "https://x.test/ok?id={CHECKOUT_SESSION_ID}"
        );
        assert_eq!(v["name"], "A B");
    }

    #[test]
    fn unbalanced_brackets_are_refused() {
        for bad in ["a[b=1", "[x]=1", "a]b[=1", "a[b[c]]=1"] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_scalar_cannot_also_be_an_object() {
        assert!(parse(b"a=1&a[b]=2").is_err());
        assert!(parse(b"a[b]=2&a=1").is_err());
    }
}
