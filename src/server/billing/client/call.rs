//! Requests written by hand, for the calls async-stripe's builders make long-winded.

use stripe_client_core::{StripeMethod, StripeRequest};

/// A request described by its path and form parameters, for the set-up calls async-stripe's
/// builders make long-winded (portal configurations, webhook endpoints): the parameters are
/// Stripe's own names, encoded as Stripe reads them (`features[invoice_history][enabled]`).
#[derive(Debug, Clone)]
pub struct Call {
    method: StripeMethod,
    path: String,
    params: Vec<(String, String)>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: StripeMethod::Get,
            path: path.into(),
            params: Vec::new(),
        }
    }

    pub fn delete(path: impl Into<String>) -> Call {
        Call {
            method: StripeMethod::Delete,
            path: path.into(),
            params: Vec::new(),
        }
    }

    pub fn post(path: impl Into<String>) -> Call {
        Call {
            method: StripeMethod::Post,
            path: path.into(),
            params: Vec::new(),
        }
    }

    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Call {
        self.params.push((key.into(), value.into()));
        self
    }

    /// `key[0]=a&key[1]=b`.
    pub fn list<S: AsRef<str>>(mut self, key: &str, values: &[S]) -> Call {
        for (i, v) in values.iter().enumerate() {
            self.params
                .push((format!("{key}[{i}]"), v.as_ref().to_string()));
        }
        self
    }
}

impl StripeRequest for Call {
    type Output = serde_json::Value;

    fn build(&self) -> stripe_client_core::RequestBuilder {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.params)
            .finish();
        let mut built = stripe_client_core::RequestBuilder::new(self.method, self.path.as_str());
        match self.method {
            StripeMethod::Get | StripeMethod::Delete => built.query = Some(encoded),
            StripeMethod::Post => built.body = Some(encoded),
        }
        built
    }
}
