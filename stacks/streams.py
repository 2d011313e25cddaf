"""One Kinesis data stream per ``resources.STREAMS`` entry: on demand, encrypted with the stream key."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kinesis as kinesis
from constructs import Construct

from marketplace.platform import resources as r
from stacks import nag
from stacks.keys import EncryptionKeys
from stacks.naming import pascal
from stacks.settings import StageSettings


class EventStreams(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageSettings, keys: EncryptionKeys) -> None:
        super().__init__(scope, construct_id)
        self.streams: dict[str, kinesis.Stream] = {
            definition.id: kinesis.Stream(
                self,
                pascal(definition.id),
                stream_name=definition.physical_name(stage.name),
                stream_mode=kinesis.StreamMode.ON_DEMAND,
                encryption=kinesis.StreamEncryption.KMS,
                encryption_key=keys.key(r.key(definition.key)),
                retention_period=Duration.hours(definition.retention_hours),
                removal_policy=stage.removal_policy,
            )
            for definition in r.STREAMS
        }
        for stream in self.streams.values():
            nag.suppress(
                stream,
                "KDS3",
                "The event stream is encrypted with its own customer-managed key (resources.STREAM_KEY) so "
                "that access to events is governed by the key policy, not only by IAM.",
            )

    def stream(self, definition: r.StreamDef) -> kinesis.Stream:
        return self.streams[definition.id]
