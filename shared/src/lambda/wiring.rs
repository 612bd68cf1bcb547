//! What every function builds once per container, from its settings: the configuration
//! document, the DynamoDB store, the Graph API client and the clock, and the services over
//! them.

use crate::meta::webhook::MetaWebhooks;
use std::sync::Arc;

use crate::bus::EventBridgeBus;
use crate::meta::graph::{GraphClient, RetryPolicy};
use crate::settings::{PublisherSettings, Settings};
use crate::store::DynamoStore;
use routing_domain::{Clock, SystemClock};
use routing_usecases::business_events::EventPublisher;
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::control::ControlService;
use routing_usecases::ingest::WebhookIngest;
use routing_usecases::ports::{GraphApi, Store};
use routing_usecases::records::Records;
use routing_usecases::resync::Resync;
use routing_usecases::timed_reset::TimedReset;
use routing_usecases::triggers::Triggers;

/// The clients of one container.
pub struct Services {
    pub config: Arc<CoordinatorConfig>,
    pub store: Arc<dyn Store>,
    pub graph: Arc<dyn GraphApi>,
    pub clock: Arc<dyn Clock>,
}

impl Services {
    /// Start-up: fails with a message naming what is missing or invalid.
    pub async fn from_settings(settings: &Settings) -> Result<Self, lambda_http::Error> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::tls::sdk_http_client())
            .load()
            .await;
        let config = settings
            .config_source
            .load(&aws_sdk_secretsmanager::Client::new(&sdk))
            .await?;
        let client = DynamoStore::client(&sdk, None);
        let graph = GraphClient::from_settings(&settings.graph, RetryPolicy::default())?;
        Ok(Services {
            config: Arc::new(config),
            store: Arc::new(DynamoStore::new(client, settings.table_name.clone())),
            graph: Arc::new(graph),
            clock: Arc::new(SystemClock),
        })
    }

    /// The conversation records over these clients.
    pub fn records(&self) -> Records {
        Records::new(self.config.clone(), self.store.clone(), self.clock.clone())
    }

    /// The control service over these clients.
    pub fn control_service(&self) -> ControlService {
        ControlService::new(self.records(), self.graph.clone())
    }

    /// The ingest service, executing trigger actions inline.
    pub fn webhook_ingest(&self) -> WebhookIngest {
        MetaWebhooks::ingest(self.records())
            .with_triggers(Triggers::new(self.records(), self.graph.clone()))
    }

    /// The timed-reset service over these clients.
    pub fn timed_reset(&self) -> TimedReset {
        TimedReset::new(self.records(), self.graph.clone())
    }

    /// The re-sync service over these clients.
    pub fn resync(&self) -> Resync {
        Resync::new(self.records(), self.graph.clone())
    }
}

/// The event publisher's one client (start-up): EventBridge over the one TLS stack, the
/// bus named by its settings.
pub async fn event_publisher(settings: &PublisherSettings) -> EventPublisher {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::sdk_http_client())
        .load()
        .await;
    let client = aws_sdk_eventbridge::Client::new(&sdk);
    EventPublisher::new(Arc::new(EventBridgeBus::new(client, &settings.bus_name)))
}
