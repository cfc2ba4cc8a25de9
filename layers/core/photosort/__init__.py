"""photosort domain package: models, backends, routing rules and the DynamoDB repository.

Ships to Lambda in the ``CoreLayer``. It never imports a handler and never builds an AWS client at import
time; every client is created by the caller (a handler, the local CLI or a test) and passed in.
"""

__version__ = "0.1.0"
