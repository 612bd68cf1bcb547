//! Counts the DynamoDB requests a client sends, by operation (an SDK interceptor, so
//! retries count too). Used to measure requests per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    inner: Arc<CounterInner>,
}

#[derive(Debug, Default)]
struct CounterInner {
    items_read_by_operation: Mutex<HashMap<String, u64>>,
    by_operation: Mutex<HashMap<String, u64>>,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn total(&self) -> u64 {
        self.by_operation().values().sum()
    }

    /// Requests per operation name (`GetItem`, `TransactWriteItems`, ...).
    pub fn by_operation(&self) -> HashMap<String, u64> {
        self.inner
            .by_operation
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Items DynamoDB read to answer: a query's `ScannedCount` (every item it evaluated,
    /// before any filter) plus one per `GetItem` that found its item.
    pub fn items_read(&self) -> u64 {
        self.items_read_by_operation().values().sum()
    }

    /// [`items_read`](Self::items_read) per operation name.
    pub fn items_read_by_operation(&self) -> HashMap<String, u64> {
        self.inner
            .items_read_by_operation
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut m) = self.inner.items_read_by_operation.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.inner.by_operation.lock() {
            m.clear();
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_string();
        if let Ok(mut m) = self.inner.by_operation.lock() {
            *m.entry(operation).or_insert(0) += 1;
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let (operation, read) = if let Some(query) =
            output.downcast_ref::<aws_sdk_dynamodb::operation::query::QueryOutput>()
        {
            ("Query", u64::try_from(query.scanned_count).unwrap_or(0))
        } else if let Some(get) =
            output.downcast_ref::<aws_sdk_dynamodb::operation::get_item::GetItemOutput>()
        {
            ("GetItem", u64::from(get.item.is_some()))
        } else {
            return Ok(());
        };
        if let Ok(mut m) = self.inner.items_read_by_operation.lock() {
            *m.entry(operation.to_string()).or_insert(0) += read;
        }
        Ok(())
    }
}
