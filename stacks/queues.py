"""One SQS queue per ``resources.QUEUES`` entry: KMS-encrypted, TLS only, redriving to its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks import nag
from stacks.keys import EncryptionKeys
from stacks.naming import pascal
from stacks.schedules import schedule_queue_ids, unused_queue_ids
from stacks.settings import StageSettings


def on_failure_queue_ids() -> tuple[str, ...]:
    """Queues that receive the failure records of stream event sources."""
    return tuple(dict.fromkeys(f.source.on_failure for f in fns.FUNCTIONS if isinstance(f.source, fns.StreamSource)))


def dead_letter_queue_ids() -> tuple[str, ...]:
    """Queues that only ever hold failures: redrive targets, stream consumers' on-failure queues and the
    dead-letter queues of schedules (deployed only with their optional function: ``stacks.schedules``)."""
    return tuple(dict.fromkeys([*(q.dead_letter for q in r.QUEUES if q.dead_letter), *on_failure_queue_ids(),
                                *schedule_queue_ids()]))


class Queues(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageSettings, keys: EncryptionKeys) -> None:
        super().__init__(scope, construct_id)
        self._stage = stage
        self._keys = keys
        self.queues: dict[str, sqs.Queue] = {}
        unused = unused_queue_ids(self)  # those of optional functions the operator did not configure
        for definition in r.QUEUES:
            if definition.id not in unused:
                self._queue(definition)
        for queue_id in on_failure_queue_ids():
            nag.suppress(
                self.queues[queue_id],
                "SQS3",
                "This queue is itself a dead-letter queue: the on-failure destination of a stream event source "
                "mapping, which cdk-nag cannot see as it only recognises redrive policies.",
            )

    def queue(self, definition: r.QueueDef) -> sqs.Queue:
        return self.queues[definition.id]

    def _queue(self, definition: r.QueueDef) -> sqs.Queue:
        """The queue, creating its dead-letter queue first whatever the definitions' order."""
        if definition.id in self.queues:
            return self.queues[definition.id]
        dead_letter = (
            sqs.DeadLetterQueue(
                queue=self._queue(r.queue(definition.dead_letter)),
                max_receive_count=definition.max_receive_count,
            )
            if definition.dead_letter
            else None
        )
        queue = sqs.Queue(
            self,
            pascal(definition.id),
            queue_name=definition.physical_name(self._stage.name),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self._keys.key(r.key(definition.key)),
            data_key_reuse=Duration.minutes(5),
            enforce_ssl=True,
            retention_period=Duration.days(definition.retention_days),
            visibility_timeout=Duration.seconds(definition.visibility_timeout_seconds),
            dead_letter_queue=dead_letter,
            removal_policy=self._stage.removal_policy,
        )
        self.queues[definition.id] = queue
        return queue
