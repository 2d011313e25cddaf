"""The local runtime: the whole marketplace on one machine with moto as the AWS backend.

It invokes the very handlers CDK deploys, with the event shapes AWS sends. Development only: the Lambda
layer leaves this package out.
"""
