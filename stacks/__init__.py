"""The AWS CDK app: one construct per concern, every resource generated from ``marketplace.platform``.

``stacks.marketplace_stack.build_app`` builds the app (used by ``app.py`` and the infrastructure tests);
``python -m stacks.layer download`` fills the wheelhouse the Lambda layer is built from.
"""
