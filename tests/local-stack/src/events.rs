//! EventBridge on moto for the local stack: the bus the event publisher puts events on, a
//! rule sending every `messenger-routing` event to an SQS queue, and the two readers the
//! runner needs: the table's DynamoDB stream (what Lambda's event source mapping reads in
//! AWS, filtered the same way: conversation records' inserts and modifications) and the
//! queue (what a subscriber would get).
//!
//! moto answers the AWS JSON protocols without checking signatures, so these calls are
//! plain HTTP with the service named in the credential scope.

use serde_json::{json, Value};

use crate::Failure;

/// The stack's bus and queue on moto.
pub struct EventTap {
    http: reqwest::Client,
    endpoint: String,
    pub bus_name: String,
    queue_url: String,
    stream_arn: String,
    iterator: tokio::sync::Mutex<Option<String>>,
}

impl EventTap {
    /// Create the bus, the queue and the rule, and start reading the stream of `table`
    /// from its beginning.
    pub async fn start(endpoint: &str, table: &str) -> Result<Self, Failure> {
        let mut tap = EventTap {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            bus_name: format!("{table}-bus"),
            queue_url: String::new(),
            stream_arn: String::new(),
            iterator: tokio::sync::Mutex::new(None),
        };
        tap.call(
            "events",
            "AWSEvents.CreateEventBus",
            json!({"Name": tap.bus_name}),
        )
        .await?;
        let queue = tap
            .call(
                "sqs",
                "AmazonSQS.CreateQueue",
                json!({"QueueName": format!("{table}-events")}),
            )
            .await?;
        tap.queue_url = text(&queue, "QueueUrl")?;
        let attributes = tap
            .call(
                "sqs",
                "AmazonSQS.GetQueueAttributes",
                json!({"QueueUrl": tap.queue_url, "AttributeNames": ["QueueArn"]}),
            )
            .await?;
        let queue_arn = text(&attributes["Attributes"], "QueueArn")?;
        let pattern = json!({"source": [routing_domain::EVENT_SOURCE]});
        tap.call(
            "events",
            "AWSEvents.PutRule",
            json!({"Name": "to-queue", "EventBusName": tap.bus_name,
                   "EventPattern": pattern.to_string(), "State": "ENABLED"}),
        )
        .await?;
        tap.call(
            "events",
            "AWSEvents.PutTargets",
            json!({"Rule": "to-queue", "EventBusName": tap.bus_name,
                   "Targets": [{"Id": "queue", "Arn": queue_arn}]}),
        )
        .await?;
        let described = tap
            .call(
                "dynamodb",
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": table}),
            )
            .await?;
        tap.stream_arn = text(&described["Table"], "LatestStreamArn")?;
        Ok(tap)
    }

    async fn call(&self, service: &str, target: &str, body: Value) -> Result<Value, Failure> {
        let content_type = if service == "events" {
            "application/x-amz-json-1.1"
        } else {
            "application/x-amz-json-1.0"
        };
        let credential = format!(
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let response = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("Content-Type", content_type)
            .header("X-Amz-Target", target)
            .header("Authorization", credential)
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("moto {target}: {status} {value}").into());
        }
        Ok(value)
    }

    /// The stream records since the last call, as Lambda's event source mapping would hand
    /// them to the event publisher (only conversation records' inserts and modifications,
    /// the template's filter): `{"Records": [...]}`.
    pub async fn stream_batch(&self) -> Result<Value, Failure> {
        let streams = "DynamoDBStreams_20120810";
        let mut iterator = self.iterator.lock().await;
        if iterator.is_none() {
            let described = self
                .call(
                    "dynamodb",
                    &format!("{streams}.DescribeStream"),
                    json!({"StreamArn": self.stream_arn}),
                )
                .await?;
            let shard = text(&described["StreamDescription"]["Shards"][0], "ShardId")?;
            let opened = self
                .call(
                    "dynamodb",
                    &format!("{streams}.GetShardIterator"),
                    json!({"StreamArn": self.stream_arn, "ShardId": shard,
                           "ShardIteratorType": "TRIM_HORIZON"}),
                )
                .await?;
            *iterator = Some(text(&opened, "ShardIterator")?);
        }
        let mut records = Vec::new();
        loop {
            let current = iterator.clone().ok_or("no shard iterator")?;
            let page = self
                .call(
                    "dynamodb",
                    &format!("{streams}.GetRecords"),
                    json!({"ShardIterator": current, "Limit": 1000}),
                )
                .await?;
            *iterator = page["NextShardIterator"].as_str().map(str::to_string);
            let batch = page["Records"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            records.extend(batch.iter().filter_map(|r| self.lambda_record(r)));
        }
        Ok(json!({ "Records": records }))
    }

    /// A moto stream record in Lambda's shape, when it passes the template's filter.
    fn lambda_record(&self, record: &Value) -> Option<Value> {
        let name = record["eventName"].as_str()?;
        let change = &record["dynamodb"];
        let is_state = change["Keys"]["sk"]["S"] == "STATE";
        if !is_state || !matches!(name, "INSERT" | "MODIFY") {
            return None;
        }
        let mut shaped = json!({
            "Keys": change["Keys"],
            "SequenceNumber": change["SequenceNumber"],
            "SizeBytes": change["SizeBytes"],
            "StreamViewType": change["StreamViewType"],
            "ApproximateCreationDateTime": 0.0
        });
        for image in ["NewImage", "OldImage"] {
            if change.get(image).is_some() {
                shaped[image] = change[image].clone();
            }
        }
        Some(json!({
            "eventID": record["eventID"],
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": shaped,
            "eventSourceARN": self.stream_arn
        }))
    }

    /// Every event the rule delivered to the queue since the last call, oldest first.
    pub async fn received(&self) -> Result<Vec<Value>, Failure> {
        let mut events = Vec::new();
        loop {
            let page = self
                .call(
                    "sqs",
                    "AmazonSQS.ReceiveMessage",
                    json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10,
                           "WaitTimeSeconds": 0, "VisibilityTimeout": 30}),
                )
                .await?;
            let messages = page["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                return Ok(events);
            }
            for message in messages {
                let body = message["Body"].as_str().unwrap_or_default();
                events.push(serde_json::from_str(body)?);
                self.call(
                    "sqs",
                    "AmazonSQS.DeleteMessage",
                    json!({"QueueUrl": self.queue_url, "ReceiptHandle": message["ReceiptHandle"]}),
                )
                .await?;
            }
        }
    }
}

fn text(value: &Value, field: &str) -> Result<String, Failure> {
    value[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("moto answer without {field}: {value}").into())
}
