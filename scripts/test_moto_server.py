"""Tests of scripts/moto_server.py's change to moto's TransactWriteItems (run by
scripts/test: `.tools/venv/bin/python -m unittest discover -s scripts -p 'test_*.py'`).

A cancelled transaction must leave every item, index entry and stream record as it was,
without copying the table; a successful one must apply as moto applies it.
"""
import copy
import unittest

import boto3
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

import moto_server

TABLE = "coordinator"
REGION = "us-east-1"


def s(value):
    return {"S": value}


def record(pk, version, queue_pk):
    return {"pk": s(pk), "sk": s("STATE"), "version": {"N": str(version)},
            "queue_pk": s(queue_pk), "queue_sk": s(f"{version:013}#{pk}")}


class CancelledTransactions(unittest.TestCase):
    def setUp(self):
        moto_server.install()
        self.mock = mock_aws()
        self.mock.start()
        self.db = boto3.client("dynamodb", region_name=REGION)
        self.db.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                                  for n in ("pk", "sk", "queue_pk", "queue_sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "queue",
                "KeySchema": [{"AttributeName": "queue_pk", "KeyType": "HASH"},
                              {"AttributeName": "queue_sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"},
        )
        self.db.put_item(TableName=TABLE, Item=record("CONV#1#a", 1, "1#bot"))
        self.db.put_item(TableName=TABLE, Item={"pk": s("CONV#1#a"), "sk": s("DEDUPE#m1")})
        self.db.put_item(TableName=TABLE, Item=record("CONV#1#b", 3, "1#inbox"))
        self.backend = dynamodb_backends["123456789012"][REGION]

    def tearDown(self):
        self.mock.stop()

    def state(self):
        table = self.backend.tables[TABLE]
        items = sorted(self.db.scan(TableName=TABLE, ConsistentRead=True)["Items"],
                       key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        queues = {
            q: self.db.query(TableName=TABLE, IndexName="queue",
                             KeyConditionExpression="queue_pk = :q",
                             ExpressionAttributeValues={":q": s(q)})["Items"]
            for q in ("1#bot", "1#inbox", "1#idle")
        }
        # The stream's records as moto keeps them (what GetRecords serves).
        stream = [r.to_json() for r in table.stream_shard.items]
        partitions = sorted(str(h) for h in table.items.keys())
        return {"items": items, "queues": queues, "stream": stream, "partitions": partitions}

    def transact(self, items):
        return self.db.transact_write_items(TransactItems=[
            {op: dict(body, TableName=TABLE)} for op, body in items
        ])

    def test_a_cancelled_transaction_leaves_items_indexes_and_stream_as_before(self):
        table = self.backend.tables[TABLE]
        before = self.state()
        self.assertEqual(len(before["stream"]), 3)
        with self.assertRaises(self.db.exceptions.TransactionCanceledException):
            self.transact([
                ("Put", {"Item": record("CONV#1#a", 2, "1#inbox"),
                         "ConditionExpression": "version = :v",
                         "ExpressionAttributeValues": {":v": {"N": "1"}}}),
                ("Put", {"Item": record("CONV#1#new", 1, "1#idle")}),
                ("Put", {"Item": {"pk": s("CONV#1#new"), "sk": s("TL#1")}}),
                ("Delete", {"Key": {"pk": s("CONV#1#b"), "sk": s("STATE")}}),
                ("Update", {"Key": {"pk": s("CONV#1#b"), "sk": s("DEDUPE#x")},
                            "UpdateExpression": "SET n = :n",
                            "ExpressionAttributeValues": {":n": {"N": "1"}}}),
                # The applied-event key exists: the whole transaction is cancelled.
                ("Put", {"Item": {"pk": s("CONV#1#a"), "sk": s("DEDUPE#m1")},
                         "ConditionExpression": "attribute_not_exists(pk)"}),
            ])
        self.assertEqual(self.state(), before)
        # Nothing was copied: the table is the same object, with no new partitions.
        self.assertIs(self.backend.tables[TABLE], table)
        import moto.dynamodb.models as models
        self.assertIs(models.copy, copy)

    def test_a_transaction_refused_as_invalid_leaves_everything_as_before(self):
        before = self.state()
        with self.assertRaises(self.db.exceptions.ClientError):
            # Two operations on one item: a ValidationException after the first applied.
            self.transact([
                ("Put", {"Item": record("CONV#1#c", 1, "1#bot")}),
                ("Put", {"Item": record("CONV#1#a", 9, "1#bot")}),
                ("Delete", {"Key": {"pk": s("CONV#1#a"), "sk": s("STATE")}}),
            ])
        self.assertEqual(self.state(), before)

    def test_a_committed_transaction_applies_every_item_and_streams_it(self):
        before = self.state()
        self.transact([
            ("Put", {"Item": record("CONV#1#a", 2, "1#inbox"),
                     "ConditionExpression": "version = :v",
                     "ExpressionAttributeValues": {":v": {"N": "1"}}}),
            ("Put", {"Item": {"pk": s("CONV#1#a"), "sk": s("DEDUPE#m2")},
                     "ConditionExpression": "attribute_not_exists(pk)"}),
            ("Delete", {"Key": {"pk": s("CONV#1#b"), "sk": s("STATE")}}),
        ])
        after = self.state()
        keys = [(i["pk"]["S"], i["sk"]["S"]) for i in after["items"]]
        self.assertEqual(keys, [("CONV#1#a", "DEDUPE#m1"), ("CONV#1#a", "DEDUPE#m2"),
                                ("CONV#1#a", "STATE")])
        self.assertEqual([i["pk"]["S"] for i in after["queues"]["1#inbox"]], ["CONV#1#a"])
        self.assertEqual(after["queues"]["1#bot"], [])
        self.assertEqual([r["eventName"] for r in after["stream"][len(before["stream"]):]],
                         ["MODIFY", "INSERT", "REMOVE"])


if __name__ == "__main__":
    unittest.main()
